"""Sidecar ``ingress[]``: inbound listeners and clusters declared by the Sidecar resource, which
replace the Service-derived ones (Istio without ``PILOT_ALLOW_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE``).

Each entry gives ``<pod ip>_<port.number>`` (whether or not a Service selects the pod) with the
route ``inbound|<port.number>||`` → the ``defaultEndpoint``. Istio's ``127.0.0.1:<p>`` and
``0.0.0.0:<p>`` both name the app's port ``<p>``; on the local platform an app listens on the pod
address, on the private port the platform gave container port ``<p>`` (``MAINSAIL_APP_PORTS``),
or on ``<p>`` itself when it is not a container port. Without a ``defaultEndpoint`` the app's
port is the listener's. ``connectionPool`` (else the Sidecar's ``inboundConnectionPool``) sets
the inbound cluster's limits, as istiod. ``unix://`` endpoints, ``bind`` and ``captureMode`` are not supported
on the local platform (the listener binds the pod address regardless). ``tls`` terminates TLS
with the user's certificate where the port's mTLS mode is DISABLE (``xds.inbound``). The chains
follow the port's PeerAuthentication mode like the Service-derived ones (``xds.inbound``).

Reads: Sidecar (``ingress``), the proxy's private app ports.
"""

from __future__ import annotations

from datetime import timedelta

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_pb2

from mainsail import naming
from mainsail.config.istio.sidecar import IstioIngressListener
from mainsail.registry.protocol import Protocol, parse_protocol
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.cluster_policies import apply_connection_pool
from mainsail.xds.clusters import default_circuit_breakers, inbound_connection_pool
from mainsail.xds.inbound import InboundPort, inbound_listener, inbound_route_config
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
    """``inbound|<port>||`` per entry, with the entry's ``connectionPool`` (else the Sidecar's
    ``inboundConnectionPool``) applied as istiod does since 1.21."""
    clusters = []
    for entry in _entries(view):
        name = naming.build_inbound_cluster(entry.port.number or 0)
        address, port = _app_address(view, entry)
        clusters.append(
            cluster_pb2.Cluster(
                name=name,
                type=cluster_pb2.Cluster.STATIC,
                connect_timeout=duration(timedelta(seconds=10)),
                circuit_breakers=default_circuit_breakers(),
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
        pool = inbound_connection_pool(view, entry.port.number or 0)
        if pool is not None:
            apply_connection_pool(clusters[-1], pool, _protocol(entry))
    return clusters


def build_ingress_listeners(snapshot: MeshSnapshot, view: ProxyView) -> list[listener_pb2.Listener]:
    """One inbound listener per ``ingress[]`` port, its chains per mTLS mode (``xds.inbound``)."""
    listeners = []
    for entry in _entries(view):
        number = entry.port.number or 0
        protocol = _protocol(entry)
        if entry.tls is not None and protocol.is_tls:
            # Terminated here (istiod's ``AfterTLSTermination``): HTTPS is served as HTTP.
            protocol = Protocol.HTTP if protocol == Protocol.HTTPS else Protocol.TCP
        route_config = None
        if not (protocol.is_tcp or protocol == Protocol.UDP):
            cluster = naming.build_inbound_cluster(number)
            route_config = inbound_route_config(number, number, protocol, operation=f"{cluster}/*")
        listeners.append(
            inbound_listener(
                snapshot,
                view,
                InboundPort(port=number, route_config=route_config, tls=entry.tls),
            )
        )
    return listeners
