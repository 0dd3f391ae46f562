"""VirtualService ``tcp`` and ``tls`` routes → the filter chains of one outbound TCP listener.

istiod's ``buildSidecarOutboundTCPFilterChainOpts``/``...TLSFilterChainOpts`` (``tls.go``), for
the local platform's listeners (one per visible TCP service port, on the pod address):

- Every VirtualService bound to ``mesh`` and visible to the proxy whose hosts match the service
  counts, oldest first. Static match fields (``port``, ``sourceLabels``, ``sourceNamespace``,
  ``gateways``) are evaluated here, for this proxy.
- ``tcp`` (not on TLS ports): the first route without a match, or with a matching match, is the
  listener's only chain (a ``tcp_proxy``; several destinations → ``weighted_clusters``). No such
  route: straight to ``outbound|<port>||<host>``.
- ``tls`` (TLS/HTTPS ports): each matching match becomes a chain selected by SNI
  (``server_names`` = ``sniHosts``; the listener gets a TLS inspector); a runtime predicate seen
  before is skipped. No matching ``tls`` route: one chain without SNI match to the service (the
  listener stands for the service, as a VIP-bound one does in Istio).
- ``destinationSubnets``: a connection to these listeners is addressed to the pod, not to the
  service, so the destination address Istio matches at run time is meant here as the service's
  address: a match with subnets holds when one of the service's addresses (ClusterIP,
  ServiceEntry ``addresses``) is in one of them — decided at generation, like the static fields.
- DestinationRule ``connectionPool.tcp.idleTimeout`` → ``idle_timeout``,
  ``maxConnectionDuration`` → ``max_downstream_connection_duration`` (for a single destination,
  or several of one host).
- A ``resolution: NONE`` TLS port forwards by SNI (``sni_dynamic_forward_proxy``): there is no
  original destination to pass through to.

TCP Gateway servers (``gateway_tcp_chains``) take the first ``tcp`` route of a VirtualService
bound to the gateway whose hosts the server admits.

Reads: VirtualService, DestinationRule (``tcp`` pool settings), services, Gateway servers.
"""

from __future__ import annotations

import ipaddress

from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3 import (
    sni_dynamic_forward_proxy_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.config.istio.virtual_service import (
    L4MatchAttributes,
    RouteDestination,
    TLSMatchAttributes,
    VirtualService,
)
from mainsail.registry.model import MeshService, ServicePort, labels_match
from mainsail.snapshot.destination_rules import destination_rule_for, policy_for
from mainsail.snapshot.hosts import (
    host_matches,
    hosts_intersect,
    resolve_gateway_name,
    resolve_short_name,
)
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView, exported_to
from mainsail.xds.clusters import forwards_by_name
from mainsail.xds.forward_proxy import dns_cache_config
from mainsail.xds.gateways import GatewayServerPort
from mainsail.xds.http_routes import virtual_service_gateways
from mainsail.xds.protos import duration

TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
SNI_FORWARD_PROXY_FILTER = "envoy.filters.network.sni_dynamic_forward_proxy"
MESH_GATEWAY = "mesh"


def _typed(
    message: tcp_proxy_pb2.TcpProxy | sni_dynamic_forward_proxy_pb2.FilterConfig,
) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def virtual_services_for(
    snapshot: MeshSnapshot, view: ProxyView, hostname: str, gateway: str = MESH_GATEWAY
) -> list[VirtualService]:
    """VirtualServices visible to the proxy, bound to ``gateway``, with a host matching
    ``hostname`` (istiod's ``getConfigsForHost``), oldest first."""
    domain = snapshot.mesh.domain
    found = []
    for vs in snapshot.virtual_services:
        if not exported_to(
            frozenset(vs.spec.export_to or ("*",)), vs.namespace, view.node.namespace
        ):
            continue
        if gateway not in virtual_service_gateways(vs):
            continue
        hosts = (resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts)
        if any(host_matches(h, hostname) for h in hosts):
            found.append(vs)
    return found


def _static_match(
    match: L4MatchAttributes | TLSMatchAttributes,
    view: ProxyView,
    port: int,
    gateway: str,
    vs_namespace: str,
) -> bool:
    gateways = {resolve_gateway_name(g, vs_namespace) for g in match.gateways}
    return (
        (not gateways or gateway in gateways)
        and labels_match(match.source_labels, view.node.label_map)
        and (match.port is None or match.port == 0 or match.port == port)
        and (not match.source_namespace or match.source_namespace == view.node.namespace)
    )


def _subnets_hold(subnets: tuple[str, ...], service: MeshService) -> bool:
    """``destinationSubnets`` on the local platform: does the service's address fall in one?"""
    if not subnets:
        return True
    for address in service.addresses:
        try:
            target = ipaddress.ip_network(address, strict=False)
        except ValueError:
            continue
        for subnet in subnets:
            try:
                network = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                continue
            if target.version == network.version and target.subnet_of(network):  # type: ignore[arg-type]
                return True
    return False


def outbound_filter_chains(
    snapshot: MeshSnapshot,
    view: ProxyView,
    service: MeshService,
    port: ServicePort,
    chain_name: str,
    gateway: str = MESH_GATEWAY,
) -> list[listener_components_pb2.FilterChain]:
    """The chains of the listener that carries ``service``'s TCP ``port`` for this proxy."""
    configs = virtual_services_for(snapshot, view, service.hostname, gateway)
    chains: list[listener_components_pb2.FilterChain] = []
    if port.protocol.is_tls:
        handled: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
        for vs in configs:
            for tls in vs.spec.tls:
                for match in tls.match:
                    if not _static_match(match, view, port.port, gateway, vs.namespace):
                        continue
                    if not _subnets_hold(match.destination_subnets, service):
                        continue
                    key = (match.sni_hosts, match.destination_subnets)
                    if key in handled:
                        continue
                    handled.add(key)
                    chain = _chain(
                        snapshot, view, vs, tls.route, port.port, f"{chain_name}|{len(chains)}"
                    )
                    chain.filter_chain_match.server_names.extend(match.sni_hosts)
                    chains.append(chain)
        if chains:
            return chains
    else:
        for vs in configs:
            for tcp in vs.spec.tcp:
                if not tcp.match or any(
                    _static_match(m, view, port.port, gateway, vs.namespace)
                    and _subnets_hold(m.destination_subnets, service)
                    for m in tcp.match
                ):
                    return [_chain(snapshot, view, vs, tcp.route, port.port, chain_name)]
    return [_default_chain(snapshot, view, service, port, chain_name)]


def _default_chain(
    snapshot: MeshSnapshot,
    view: ProxyView,
    service: MeshService,
    port: ServicePort,
    chain_name: str,
) -> listener_components_pb2.FilterChain:
    cluster = naming.build_outbound_cluster(port.port, service.hostname)
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster)
    _apply_tcp_policy(snapshot, view, proxy, service.hostname, service.namespace, port.port, "")
    filters = [listener_components_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=_typed(proxy))]
    return listener_components_pb2.FilterChain(
        name=chain_name, filters=_sni_forwarding(view, service, port) + filters
    )


def _sni_forwarding(
    view: ProxyView, service: MeshService | None, port: ServicePort | None
) -> list[listener_components_pb2.Filter]:
    """For a TLS port of a ``resolution: NONE`` entry: resolve the SNI before ``tcp_proxy``."""
    if service is None or port is None or not port.protocol.is_tls:
        return []
    if not forwards_by_name(service, port, view):
        return []
    target = port.target_port if isinstance(port.target_port, int) else port.port
    sni = sni_dynamic_forward_proxy_pb2.FilterConfig(
        dns_cache_config=dns_cache_config(view.node.ip), port_value=target
    )
    return [listener_components_pb2.Filter(name=SNI_FORWARD_PROXY_FILTER, typed_config=_typed(sni))]


def _destination_cluster(
    snapshot: MeshSnapshot, destination: RouteDestination, vs: VirtualService, port: int
) -> tuple[str, str, int, str]:
    """(cluster, host, port, subset) of one route destination."""
    host = resolve_short_name(destination.destination.host, vs.namespace, snapshot.mesh.domain)
    selector = destination.destination.port
    number = selector.number if selector is not None and selector.number else port
    subset = destination.destination.subset or ""
    return naming.build_outbound_cluster(number, host, subset), host, number, subset


def _chain(
    snapshot: MeshSnapshot,
    view: ProxyView,
    vs: VirtualService,
    routes: tuple[RouteDestination, ...],
    port: int,
    chain_name: str,
) -> listener_components_pb2.FilterChain:
    destinations = [_destination_cluster(snapshot, r, vs, port) for r in routes]
    proxy = tcp_proxy_pb2.TcpProxy()
    if len(destinations) == 1:
        cluster, host, number, subset = destinations[0]
        proxy.stat_prefix = proxy.cluster = cluster
        _apply_tcp_policy(
            snapshot, view, proxy, host, _namespace_of(snapshot, host), number, subset
        )
    else:
        proxy.stat_prefix = naming.build_outbound_cluster(port, destinations[0][1])
        for route, (cluster, _, _, _) in zip(routes, destinations, strict=True):
            proxy.weighted_clusters.clusters.add(name=cluster, weight=route.weight or 0)
        hosts = {host for _, host, _, _ in destinations}
        if len(hosts) == 1:
            host = hosts.pop()
            _apply_tcp_policy(snapshot, view, proxy, host, _namespace_of(snapshot, host), port, "")
    filters = [listener_components_pb2.Filter(name=TCP_PROXY_FILTER, typed_config=_typed(proxy))]
    if len(destinations) == 1:
        _, host, number, _ = destinations[0]
        target = snapshot.services.get(host)
        filters = _sni_forwarding(view, target, target.port(number) if target else None) + filters
    chain = listener_components_pb2.FilterChain(name=chain_name, filters=filters)
    chain.metadata.filter_metadata["istio"].update(
        {
            "config": f"/apis/networking.istio.io/v1/namespaces/{vs.namespace}/virtual-service/{vs.name}"
        }
    )
    return chain


def _namespace_of(snapshot: MeshSnapshot, host: str) -> str:
    service = snapshot.services.get(host)
    return service.namespace if service is not None else ""


def _apply_tcp_policy(
    snapshot: MeshSnapshot,
    view: ProxyView,
    proxy: tcp_proxy_pb2.TcpProxy,
    host: str,
    service_namespace: str,
    port: int,
    subset: str,
) -> None:
    rule = destination_rule_for(snapshot, view.node.namespace, host, service_namespace)
    pool = policy_for(rule, port, subset).get("connection_pool")
    tcp = pool.tcp if pool is not None else None
    if tcp is None:
        return
    if tcp.idle_timeout is not None:
        proxy.idle_timeout.CopyFrom(duration(tcp.idle_timeout))
    if tcp.max_connection_duration is not None:
        proxy.max_downstream_connection_duration.CopyFrom(duration(tcp.max_connection_duration))


def gateway_tcp_chains(
    snapshot: MeshSnapshot, view: ProxyView, server_port: GatewayServerPort, chain_name: str
) -> list[listener_components_pb2.FilterChain]:
    """A TCP Gateway server: the first ``tcp`` route of a VirtualService bound to one of the
    port's servers whose hosts the server admits (static matches for the gateway; a
    ``destinationSubnets`` match holds when the gateway's own address is in it). None: no chain."""
    domain = snapshot.mesh.domain
    for server in server_port.servers:
        gateway = f"{server.gateway_namespace}/{server.gateway_name}"
        server_hosts = [h.rpartition("/")[2] for h in server.hosts]
        for vs in snapshot.virtual_services:
            if not vs.spec.tcp or gateway not in virtual_service_gateways(vs):
                continue
            if not exported_to(
                frozenset(vs.spec.export_to or ("*",)), vs.namespace, view.node.namespace
            ):
                continue
            hosts = [resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts]
            if not any(hosts_intersect(s, h) for s in server_hosts for h in hosts):
                continue
            for tcp in vs.spec.tcp:
                if not tcp.match or any(
                    _static_match(m, view, server_port.number, gateway, vs.namespace)
                    and _address_in(m.destination_subnets, view.node.ip)
                    for m in tcp.match
                ):
                    return [_chain(snapshot, view, vs, tcp.route, server_port.number, chain_name)]
    return []


def _address_in(subnets: tuple[str, ...], address: str) -> bool:
    if not subnets:
        return True
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(s, strict=False) for s in subnets)


def needs_tls_inspector(chains: list[listener_components_pb2.FilterChain]) -> bool:
    return any(c.filter_chain_match.server_names for c in chains) or any(
        f.name == SNI_FORWARD_PROXY_FILTER for c in chains for f in c.filters
    )
