"""Inbound listeners of a sidecar: one per workload port, its filter chains per mTLS mode.

On the local platform nothing is captured, so istiod's ``virtualInbound`` chains become one
listener per port, ``<pod ip>_<port>`` (istiod builds the same for ``captureMode: NONE``); each
chain keeps Istio's name ``0.0.0.0_<port>`` and its match (``filterchain_options.go``,
istio-internals §1.4), chosen by the PeerAuthentication mode of that workload port (§4.1):

| port | STRICT | PERMISSIVE | DISABLE |
|---|---|---|---|
| HTTP | ``tls`` → HCM (mTLS) | ``tls`` + Istio ALPN → HCM (mTLS); ``raw_buffer`` → HCM | ``raw_buffer`` → HCM |
| TCP | ``tls`` → tcp_proxy (mTLS) | ``tls`` + Istio ALPN → tcp (mTLS); ``raw_buffer`` → tcp; ``tls`` → tcp (not terminated) | ``raw_buffer`` → tcp |

A connection no chain matches (plaintext to a STRICT port) is closed. A Sidecar
``ingress[].tls`` on a DISABLE port terminates TLS with the user's certificate instead
(``xds.server_tls``), on one ``tls`` chain. The TLS inspector runs on
listeners whose chains match on ``tls`` (without it every connection reads as ``raw_buffer``).
Sniffed ports (no protocol in the port name) are served as HTTP, as before; Istio's five-chain
sniffing variant needs the HTTP inspector and is not built.

The HCM forwards the client's identity to the app as Istio does: ``x-forwarded-client-cert``
(APPEND_FORWARD with subject, URI and DNS SANs). Authorization and JWT filters
(``xds.inbound_policy``) go before the router / tcp_proxy.

Reads: services and endpoints (inbound ports), PeerAuthentication (via ``snapshot.security``),
MeshConfig (trust domain and aliases, protocol detection timeout).
"""

from __future__ import annotations

from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from mainsail import naming
from mainsail.config.istio.gateway import ServerTLSSettings
from mainsail.registry.protocol import Protocol
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security import MtlsMode, workload_mtls
from mainsail.snapshot.view import ProxyView
from mainsail.xds.http_routes import set_timeout
from mainsail.xds.inbound_policy import inbound_http_policy_filters, inbound_tcp_policy_filters
from mainsail.xds.listeners import TCP_PROXY_FILTER, http_connection_manager
from mainsail.xds.protos import duration, socket_address
from mainsail.xds.server_tls import server_tls_context
from mainsail.xds.tls import (
    ALL_ISTIO_MTLS_ALPNS,
    RAW_BUFFER_TRANSPORT,
    TLS_INSPECTOR,
    TLS_TRANSPORT,
    inbound_mtls_context,
    tls_transport_socket,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundPort:
    """One workload port to serve: HTTP (``route_config`` to the app) or TCP (None); ``tls``: a
    Sidecar ``ingress[].tls`` that terminates TLS there when mesh mTLS is off (DISABLE)."""

    port: int
    route_config: route_pb2.RouteConfiguration | None
    tls: ServerTLSSettings | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _ChainOption:
    """One chain of a port (istiod's ``FilterChainMatchOptions``)."""

    transport_protocol: str
    application_protocols: tuple[str, ...] = ()
    terminate_tls: bool = False


_MTLS = _ChainOption(
    transport_protocol=TLS_TRANSPORT,
    application_protocols=ALL_ISTIO_MTLS_ALPNS,
    terminate_tls=True,
)
_PLAINTEXT = _ChainOption(transport_protocol=RAW_BUFFER_TRANSPORT)
_STRICT = _ChainOption(transport_protocol=TLS_TRANSPORT, terminate_tls=True)
_PLAIN_TLS = _ChainOption(transport_protocol=TLS_TRANSPORT)

_HTTP_OPTIONS: dict[MtlsMode, tuple[_ChainOption, ...]] = {
    "STRICT": (_STRICT,),
    "PERMISSIVE": (_MTLS, _PLAINTEXT),
    "DISABLE": (_PLAINTEXT,),
}
_TCP_OPTIONS: dict[MtlsMode, tuple[_ChainOption, ...]] = {
    "STRICT": (_STRICT,),
    "PERMISSIVE": (_MTLS, _PLAINTEXT, _PLAIN_TLS),
    "DISABLE": (_PLAINTEXT,),
}


def build_inbound_listeners(snapshot: MeshSnapshot, view: ProxyView) -> list[listener_pb2.Listener]:
    """The Service-derived inbound listeners: one per port of this workload a Service targets."""
    return [inbound_listener(snapshot, view, port) for port in _service_ports(view)]


def _service_ports(view: ProxyView) -> list[InboundPort]:
    seen: set[int] = set()
    ports = []
    for endpoint in view.inbound:
        if endpoint.port in seen:
            continue
        seen.add(endpoint.port)
        service = view.inbound_service(endpoint.hostname)
        port_info = service.port(endpoint.service_port) if service is not None else None
        route_config = None
        if service is not None and port_info is not None and not port_info.protocol.is_tcp:
            route_config = inbound_route_config(
                endpoint.port,
                endpoint.service_port,
                port_info.protocol,
                operation=f"{service.hostname}:{endpoint.service_port}/*",
            )
        ports.append(InboundPort(port=endpoint.port, route_config=route_config))
    return ports


def inbound_route_config(
    port: int, service_port: int, protocol: Protocol, *, operation: str
) -> route_pb2.RouteConfiguration:
    """istiod's inline inbound route: ``inbound|<port>||`` with no timeout and (not for gRPC)
    2 retries of requests reset before reaching the app (``defaultInboundHttpRetryPolicy``)."""
    cluster = naming.build_inbound_cluster(port)
    action = rc.RouteAction(cluster=cluster)
    set_timeout(action, None)
    if protocol not in (Protocol.GRPC, Protocol.GRPC_WEB):
        action.retry_policy.retry_on = "reset-before-request"
        action.retry_policy.num_retries.value = 2
    config = route_pb2.RouteConfiguration(
        name=cluster,
        virtual_hosts=[
            rc.VirtualHost(
                name=naming.build_inbound_virtual_host_name(service_port),
                domains=["*"],
                routes=[
                    rc.Route(
                        name=naming.DEFAULT_ROUTE,
                        match=rc.RouteMatch(prefix="/"),
                        route=action,
                        decorator=rc.Decorator(operation=operation),
                    )
                ],
            )
        ],
    )
    config.validate_clusters.value = False
    return config


def port_mtls_mode(snapshot: MeshSnapshot, view: ProxyView, port: int) -> MtlsMode:
    """The PeerAuthentication mode of this workload's ``port`` (workload > namespace > mesh,
    port-level first; PERMISSIVE when nothing says)."""
    return workload_mtls(snapshot, view.node.namespace, view.node.label_map).mode_for(port)


def inbound_listener(
    snapshot: MeshSnapshot, view: ProxyView, inbound: InboundPort
) -> listener_pb2.Listener:
    node = view.node
    port = inbound.port
    mode = port_mtls_mode(snapshot, view, port)
    http = inbound.route_config is not None
    options = (_HTTP_OPTIONS if http else _TCP_OPTIONS)[mode]
    # istiod: the user's TLS applies only where it cannot clash with mesh mTLS.
    user_tls = inbound.tls if mode == "DISABLE" else None
    if user_tls is not None:
        options = (_STRICT,)
    chain_name = naming.build_listener_name("0.0.0.0", port)
    mesh = snapshot.mesh
    trust_domains = (mesh.trust_domain, *mesh.trust_domain_aliases)
    chains = []
    for option in options:
        match = listener_components_pb2.FilterChainMatch(
            transport_protocol=option.transport_protocol,
            application_protocols=list(option.application_protocols),
        )
        match.destination_port.value = port
        chain = listener_components_pb2.FilterChain(
            name=chain_name, filter_chain_match=match, filters=_filters(snapshot, view, inbound)
        )
        if user_tls is not None:
            chain.transport_socket.CopyFrom(tls_transport_socket(server_tls_context(user_tls)))
        elif option.terminate_tls:
            chain.transport_socket.CopyFrom(
                tls_transport_socket(
                    inbound_mtls_context(trust_domains, http=http, mesh_mtls=mesh.mesh_mtls)
                )
            )
        chains.append(chain)
    listener = listener_pb2.Listener(
        name=naming.build_listener_name(node.ip, port),
        address=socket_address(node.ip, port),
        traffic_direction=base_pb2.INBOUND,
        filter_chains=chains,
        continue_on_listener_filters_timeout=True,
        listener_filters_timeout=duration(mesh.protocol_detection_timeout),
    )
    if any(c.filter_chain_match.transport_protocol == TLS_TRANSPORT for c in chains):
        listener.listener_filters.add(name=TLS_INSPECTOR).typed_config.Pack(
            tls_inspector_pb2.TlsInspector()
        )
    return listener


def _filters(
    snapshot: MeshSnapshot, view: ProxyView, inbound: InboundPort
) -> list[listener_components_pb2.Filter]:
    cluster = naming.build_inbound_cluster(inbound.port)
    if inbound.route_config is not None:
        chain_name = naming.build_listener_name("0.0.0.0", inbound.port)
        return [
            http_connection_manager(
                naming.build_stat_prefix("inbound", chain_name),
                route_config=inbound.route_config,
                inbound=True,
                policy_filters=inbound_http_policy_filters(snapshot, view, inbound.port),
            )
        ]
    proxy = listener_components_pb2.Filter(name=TCP_PROXY_FILTER)
    proxy.typed_config.Pack(tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster))
    return [*inbound_tcp_policy_filters(snapshot, view, inbound.port), proxy]
