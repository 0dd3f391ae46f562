"""Sidecar ``ingress[]``: inbound listeners and clusters declared by the Sidecar resource, which
replace the Service-derived ones (Istio without ``PILOT_ALLOW_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE``).

Each entry gives ``<pod ip>_<port.number>`` (whether or not a Service selects the pod) with the
route ``inbound|<port.number>||`` → the ``defaultEndpoint``. Istio's ``127.0.0.1:<p>`` and
``0.0.0.0:<p>`` both name the app's port ``<p>``; on the local platform an app listens on the pod
address, on the private port the platform gave container port ``<p>`` (``MAINSAIL_APP_PORTS``),
or on ``<p>`` itself when it is not a container port. Without a ``defaultEndpoint`` the app's
port is the listener's. ``unix://`` endpoints, ``bind``, ``captureMode`` and ``tls`` are not
supported on the local platform (the listener binds the pod address regardless).

Reads: Sidecar (``ingress``), the proxy's private app ports.
"""

from __future__ import annotations

from datetime import timedelta

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.config.istio.sidecar import IstioIngressListener
from mainsail.registry.protocol import Protocol, parse_protocol
from mainsail.snapshot.view import ProxyView
from mainsail.xds.http_routes import set_timeout
from mainsail.xds.listeners import TCP_PROXY_FILTER, http_connection_manager
from mainsail.xds.protos import duration, socket_address


def has_sidecar_ingress(view: ProxyView) -> bool:
    return view.sidecar is not None and bool(view.sidecar.spec.ingress)


def ingress_ports(view: ProxyView) -> frozenset[int]:
    if view.sidecar is None:
        return frozenset()
    return frozenset(i.port.number for i in view.sidecar.spec.ingress if i.port.number)


def _entries(view: ProxyView) -> list[IstioIngressListener]:
    if view.sidecar is None:
        return []
    seen: set[int] = set()
    entries = []
    for entry in view.sidecar.spec.ingress:
        number = entry.port.number
        if not number or number in seen:
            continue
        seen.add(number)
        entries.append(entry)
    return entries


def _app_address(view: ProxyView, entry: IstioIngressListener) -> tuple[str, int]:
    node = view.node
    number = entry.port.number or 0
    target = number
    endpoint = entry.default_endpoint or ""
    host, sep, port = endpoint.rpartition(":")
    if sep and host in ("127.0.0.1", "0.0.0.0") and port.isdigit():
        target = int(port)
    if node.interception_mode == "NONE":
        return node.ip, dict(node.app_ports).get(target, target)
    return ("127.0.0.1" if host != "0.0.0.0" else node.ip), target


def _protocol(entry: IstioIngressListener) -> Protocol:
    return parse_protocol(entry.port.protocol or "")


def build_ingress_clusters(view: ProxyView) -> list[cluster_pb2.Cluster]:
    clusters = []
    for entry in _entries(view):
        name = naming.build_inbound_cluster(entry.port.number or 0)
        address, port = _app_address(view, entry)
        clusters.append(
            cluster_pb2.Cluster(
                name=name,
                type=cluster_pb2.Cluster.STATIC,
                connect_timeout=duration(timedelta(seconds=10)),
                load_assignment=endpoint_pb2.ClusterLoadAssignment(
                    cluster_name=name,
                    endpoints=[
                        endpoint_components_pb2.LocalityLbEndpoints(
                            lb_endpoints=[
                                endpoint_components_pb2.LbEndpoint(
                                    endpoint=endpoint_components_pb2.Endpoint(
                                        address=socket_address(address, port)
                                    )
                                )
                            ]
                        )
                    ],
                ),
            )
        )
    return clusters


def build_ingress_listeners(view: ProxyView) -> list[listener_pb2.Listener]:
    node = view.node
    listeners = []
    for entry in _entries(view):
        number = entry.port.number or 0
        cluster = naming.build_inbound_cluster(number)
        chain = naming.build_listener_name("0.0.0.0", number)
        protocol = _protocol(entry)
        if protocol.is_tcp or protocol == Protocol.UDP:
            proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster)
            packed = any_pb2.Any()
            packed.Pack(proxy)
            filters = [listener_components_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=packed)]
        else:
            filters = [
                http_connection_manager(
                    naming.build_stat_prefix("inbound", chain),
                    route_config=_inbound_routes(cluster, number, protocol),
                )
            ]
        listeners.append(
            listener_pb2.Listener(
                name=naming.build_listener_name(node.ip, number),
                address=socket_address(node.ip, number),
                traffic_direction=base_pb2.INBOUND,
                filter_chains=[listener_components_pb2.FilterChain(name=chain, filters=filters)],
            )
        )
    return listeners


def _inbound_routes(cluster: str, port: int, protocol: Protocol) -> route_pb2.RouteConfiguration:
    action = rc.RouteAction(cluster=cluster)
    set_timeout(action, None)
    if protocol not in (Protocol.GRPC, Protocol.GRPC_WEB):
        action.retry_policy.retry_on = "reset-before-request"
        action.retry_policy.num_retries.value = 2
    config = route_pb2.RouteConfiguration(
        name=cluster,
        virtual_hosts=[
            rc.VirtualHost(
                name=naming.build_inbound_virtual_host_name(port),
                domains=["*"],
                routes=[
                    rc.Route(
                        name=naming.DEFAULT_ROUTE,
                        match=rc.RouteMatch(prefix="/"),
                        route=action,
                        decorator=rc.Decorator(operation=f"{cluster}/*"),
                    )
                ],
            )
        ],
    )
    config.validate_clusters.value = False
    return config
