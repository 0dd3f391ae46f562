"""``generate(snapshot, node)``: everything one proxy should hold. Pure; no I/O, no clock."""

from __future__ import annotations

from mainsail import naming
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import build_proxy_view
from mainsail.xds.clusters import build_clusters
from mainsail.xds.endpoints import build_endpoints
from mainsail.xds.gateways import gateway_server_ports
from mainsail.xds.listeners import build_gateway_listeners, build_sidecar_listeners
from mainsail.xds.resources import ProxyConfig, XdsResource
from mainsail.xds.routes import build_gateway_routes, build_sidecar_http_proxy_routes
from mainsail.xds.tcp_outbound import build_tcp_outbound_listeners, tcp_outbound_ports


def generate(snapshot: MeshSnapshot, node: ProxyNode) -> ProxyConfig:
    view = build_proxy_view(snapshot, node)
    clusters = build_clusters(snapshot, view)
    endpoints = build_endpoints(snapshot, view)
    if node.proxy_type == "router":
        server_ports = gateway_server_ports(snapshot, view)
        listeners = build_gateway_listeners(view, server_ports)
        routes = [
            build_gateway_routes(snapshot, view, p) for p in server_ports if p.protocol.is_http
        ]
    else:
        listeners = build_sidecar_listeners(view)
        if node.interception_mode == "NONE":
            listeners += build_tcp_outbound_listeners(
                view, tcp_outbound_ports(view, node.own_ports)
            )
        routes = [build_sidecar_http_proxy_routes(snapshot, view)] if node.http_proxy_port else []
    return ProxyConfig.of(
        {
            naming.CLUSTER_TYPE: [XdsResource.pack(c.name, c) for c in clusters],
            naming.ENDPOINT_TYPE: [XdsResource.pack(e.cluster_name, e) for e in endpoints],
            naming.LISTENER_TYPE: [XdsResource.pack(lst.name, lst) for lst in listeners],
            naming.ROUTE_TYPE: [XdsResource.pack(r.name, r) for r in routes],
        }
    )
