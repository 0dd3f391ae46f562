"""LDS: listeners for sidecars and gateways.

Local platform (``INTERCEPTION_MODE`` NONE): nothing is captured, so every listener binds the pod
address — the HTTP-proxy listener the app's ``HTTP_PROXY`` points at, one inbound listener per
served container port, and one listener per gateway server port. Transparent capture
(``virtualOutbound``/``virtualInbound``) is built on the same HCM and chain builders.

HTTPS/TLS gateway servers (termination, passthrough): ``xds.gateway_tls``.

Reads: services and endpoints (inbound), Gateway servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, wrappers_pb2
from google.protobuf.message import Message

from mainsail import naming
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.forward_proxy import FORWARD_PROXY_FILTER, forward_proxy_filter_config
from mainsail.xds.gateway_tls import (
    passthrough_chains,
    server_sni_hosts,
    terminating_tcp_chains,
    terminating_transport_socket,
)
from mainsail.xds.gateways import GatewayServerPort
from mainsail.xds.http_routes import CORS_FILTER, FAULT_FILTER
from mainsail.xds.inbound_policy import proxy_http_policy_filters, proxy_tcp_policy_filters
from mainsail.xds.protos import ads_source, duration, socket_address
from mainsail.xds.tcp_routes import gateway_tcp_chains

HCM_FILTER = "envoy.filters.network.http_connection_manager"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
ROUTER_FILTER = "envoy.filters.http.router"
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"


def _typed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _http_filters(
    forward_proxy_ip: str | None = None, policy_filters: Sequence[hcm_pb2.HttpFilter] = ()
) -> list[hcm_pb2.HttpFilter]:
    # Authorization/JWT first (istiod's inbound order), then fault and CORS, always present
    # (possibly empty) so per-route configs take effect.
    filters = [
        *policy_filters,
        hcm_pb2.HttpFilter(name=FAULT_FILTER, typed_config=_typed(fault_pb2.HTTPFault())),
        hcm_pb2.HttpFilter(name=CORS_FILTER, typed_config=_typed(cors_pb2.Cors())),
    ]
    if forward_proxy_ip is not None:
        # Resolves the authority for requests routed to forward-proxy clusters only.
        filters.append(
            hcm_pb2.HttpFilter(
                name=FORWARD_PROXY_FILTER,
                typed_config=forward_proxy_filter_config(forward_proxy_ip),
            )
        )
    filters.append(hcm_pb2.HttpFilter(name=ROUTER_FILTER, typed_config=_typed(router_pb2.Router())))
    return filters


def http_connection_manager(
    stat_prefix: str,
    *,
    rds_name: str | None = None,
    route_config: route_pb2.RouteConfiguration | None = None,
    gateway: bool = False,
    forward_proxy_ip: str | None = None,
    inbound: bool = False,
    policy_filters: Sequence[hcm_pb2.HttpFilter] = (),
) -> listener_components_pb2.Filter:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        http_filters=_http_filters(forward_proxy_ip, policy_filters),
        normalize_path=_bool(True),
        path_with_escaped_slashes_action=hcm_pb2.HttpConnectionManager.KEEP_UNCHANGED,
        use_remote_address=_bool(gateway),
        upgrade_configs=[hcm_pb2.HttpConnectionManager.UpgradeConfig(upgrade_type="websocket")],
        stream_idle_timeout=duration(timedelta(0)),
    )
    if gateway:
        manager.forward_client_cert_details = hcm_pb2.HttpConnectionManager.SANITIZE_SET
    if inbound:
        # istiod's sidecar inbound: the app learns the mTLS peer from x-forwarded-client-cert.
        manager.forward_client_cert_details = hcm_pb2.HttpConnectionManager.APPEND_FORWARD
        details = manager.set_current_client_cert_details
        details.subject.value = True
        details.uri = True
        details.dns = True
    if rds_name is not None:
        manager.rds.route_config_name = rds_name
        manager.rds.config_source.CopyFrom(ads_source())
    elif route_config is not None:
        manager.route_config.CopyFrom(route_config)
    return listener_components_pb2.Filter(name=HCM_FILTER, typed_config=_typed(manager))


def _bool(value: bool) -> wrappers_pb2.BoolValue:
    return wrappers_pb2.BoolValue(value=value)


def _listener(
    name: str,
    address: str,
    port: int,
    direction: int,
    filters: list[listener_components_pb2.Filter],
    chain_name: str,
) -> listener_pb2.Listener:
    return listener_pb2.Listener(
        name=name,
        address=socket_address(address, port),
        traffic_direction=direction,
        filter_chains=[listener_components_pb2.FilterChain(name=chain_name, filters=filters)],
    )


def build_sidecar_listeners(view: ProxyView) -> list[listener_pb2.Listener]:
    """The outbound HTTP-proxy listener (inbound ones: ``xds.inbound``)."""
    node = view.node
    listeners: list[listener_pb2.Listener] = []
    if node.http_proxy_port:
        name = naming.build_listener_name(node.ip, node.http_proxy_port)
        listeners.append(
            _listener(
                name,
                node.ip,
                node.http_proxy_port,
                base_pb2.OUTBOUND,
                [
                    http_connection_manager(
                        naming.build_stat_prefix("outbound", name),
                        rds_name=naming.HTTP_PROXY_ROUTE,
                        forward_proxy_ip=node.ip if node.interception_mode == "NONE" else None,
                    )
                ],
                name,
            )
        )
    return listeners


def build_gateway_listeners(
    snapshot: MeshSnapshot, view: ProxyView, server_ports: list[GatewayServerPort]
) -> list[listener_pb2.Listener]:
    listeners = []
    # AuthorizationPolicy/RequestAuthentication selecting the gateway pod apply to every server
    # (HTTP: on its HCM, with claim-based routing; TCP: network RBAC in front of tcp_proxy).
    http_policy = proxy_http_policy_filters(snapshot, view)
    tcp_policy = (
        proxy_tcp_policy_filters(snapshot, view)
        if any(p.protocol.is_tcp for p in server_ports)
        else []
    )
    for server_port in server_ports:
        name = naming.build_listener_name("0.0.0.0", server_port.listen_port)
        if server_port.protocol.is_tcp and not server_port.protocol.is_tls:
            chains = gateway_tcp_chains(snapshot, view, server_port, name)
            for chain in chains:
                _policy_first(chain, tcp_policy)
            if chains:  # no VirtualService routes it: no listener
                listeners.append(
                    listener_pb2.Listener(
                        name=name,
                        address=socket_address(view.node.ip, server_port.listen_port),
                        traffic_direction=base_pb2.OUTBOUND,
                        filter_chains=chains,
                    )
                )
            continue
        if server_port.protocol.is_tls:
            listener = _tls_gateway_listener(
                snapshot, view, server_port, name, http_policy, tcp_policy
            )
            if listener is not None:
                listeners.append(listener)
            continue
        if not server_port.protocol.is_http:
            continue
        listeners.append(
            _listener(
                name,
                view.node.ip,
                server_port.listen_port,
                base_pb2.OUTBOUND,
                [
                    http_connection_manager(
                        naming.build_stat_prefix("outbound", name),
                        rds_name=naming.build_gateway_http_route_name(server_port.number),
                        gateway=True,
                        policy_filters=http_policy,
                    )
                ],
                name,
            )
        )
    return listeners


def _tls_gateway_listener(
    snapshot: MeshSnapshot,
    view: ProxyView,
    server_port: GatewayServerPort,
    name: str,
    http_policy: Sequence[hcm_pb2.HttpFilter],
    tcp_policy: Sequence[listener_components_pb2.Filter],
) -> listener_pb2.Listener | None:
    """HTTPS/TLS servers of one port: a terminating chain per HTTPS server, terminated TLS then
    ``tcp`` routes for TLS servers, SNI chains for ``PASSTHROUGH`` ones (``xds.gateway_tls``);
    authorization on the HCM or as network RBAC before ``tcp_proxy``. No chain (e.g. no bound
    route): no listener, as istiod."""
    chains: list[listener_components_pb2.FilterChain] = []
    taken: set[str] = set()
    for server in server_port.servers:
        if server.terminates_tls:
            rds = naming.build_gateway_https_route_name(
                server_port.number, server.port_name, server.gateway_name, server.gateway_namespace
            )
            chain = listener_components_pb2.FilterChain(
                name=rds,
                filters=[
                    http_connection_manager(
                        naming.build_stat_prefix("outbound", name),
                        rds_name=rds,
                        gateway=True,
                        policy_filters=http_policy,
                    )
                ],
            )
            chain.filter_chain_match.server_names.extend(server_sni_hosts(server))
            chain.transport_socket.CopyFrom(terminating_transport_socket(server))
            chains.append(chain)
        else:
            if server.terminates_tcp_tls:
                tcp_chains = terminating_tcp_chains(snapshot, view, server_port, server, name)
            elif server.passes_through:
                tcp_chains = passthrough_chains(snapshot, view, server_port, server, name, taken)
            else:
                continue  # AUTO_PASSTHROUGH is not built
            for chain in tcp_chains:
                _policy_first(chain, tcp_policy)
            chains += tcp_chains
    if not chains:
        return None
    listener = listener_pb2.Listener(
        name=name,
        address=socket_address(view.node.ip, server_port.listen_port),
        traffic_direction=base_pb2.OUTBOUND,
        filter_chains=chains,
    )
    listener.listener_filters.add(name=TLS_INSPECTOR).typed_config.Pack(
        tls_inspector_pb2.TlsInspector()
    )
    return listener


def _policy_first(
    chain: listener_components_pb2.FilterChain, policy: Sequence[listener_components_pb2.Filter]
) -> None:
    routed = list(chain.filters)
    del chain.filters[:]
    chain.filters.extend([*policy, *routed])
