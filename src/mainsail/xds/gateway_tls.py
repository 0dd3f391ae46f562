"""TLS Gateway servers (reference §3.6): HTTPS termination and SNI passthrough.

- An HTTPS server whose ``tls.mode`` is not a passthrough one terminates TLS in its own filter
  chain: ``server_names`` = the server's hosts with any ``<ns>/`` stripped, deduplicated and
  sorted, none at all when one of them is ``*`` (istiod's ``getSNIHostsForServer``; Envoy takes
  no bare ``*``). The chain's ``DownstreamTlsContext`` is istiod's ``BuildListenerTLSContext``
  (``xds.server_tls``: file certificates over SDS as ``file-cert:``/``file-root:``,
  ``ISTIO_MUTUAL`` the workload SVID ``default``/``ROOTCA``); its HCM reads RDS
  ``https.<port>.<portName>.<gateway>.<namespace>``.
- A ``protocol: TLS`` server in a terminating mode ends TLS the same way (SNI = its hosts) and then
  follows the first ``tcp`` route bound to it (``xds.tcp_routes.gateway_tcp_chains``); no such
  route, no chain (istiod's ``createGatewayTCPFilterChainOpts``). ISTIO_MUTUAL there offers the
  TCP ALPN ``istio-peer-exchange, h2, http/1.1`` (istiod's ``ALPNDownstreamWithMxc``).
- A ``PASSTHROUGH`` server does not terminate: every ``tls`` route match of a VirtualService
  bound to the gateway (hosts intersecting the server's) becomes a chain with ``server_names`` =
  ``sniHosts`` and a ``tcp_proxy`` to the route's destination; SNI hosts already taken on the
  port are dropped, as istiod does, since Envoy rejects duplicate chain matches.

Reads: Gateway servers, VirtualService ``tls`` routes.
"""

from __future__ import annotations

from dataclasses import replace

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2

from mainsail.config.istio.gateway import ServerTLSSettings
from mainsail.snapshot.hosts import hosts_intersect, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView, exported_to
from mainsail.xds.gateways import BoundServer, GatewayServerPort
from mainsail.xds.http_routes import virtual_service_gateways
from mainsail.xds.server_tls import server_tls_context
from mainsail.xds.tcp_routes import _chain, _static_match, gateway_tcp_chains
from mainsail.xds.tls import ALPN_INBOUND_TCP, tls_transport_socket


def server_sni_hosts(server: BoundServer) -> list[str]:
    """istiod's ``getSNIHostsForServer``; ``*`` anywhere means no SNI match at all."""
    hosts = {h.rpartition("/")[2] for h in server.hosts}
    if "*" in hosts:
        return []
    return sorted(hosts)


def terminating_transport_socket(
    server: BoundServer, tcp: bool = False
) -> base_pb2.TransportSocket:
    settings = server.tls or ServerTLSSettings()
    context = server_tls_context(settings)
    if tcp and settings.mode == "ISTIO_MUTUAL":
        alpn = context.common_tls_context.alpn_protocols
        del alpn[:]
        alpn.extend(ALPN_INBOUND_TCP)
    return tls_transport_socket(context)


def terminating_tcp_chains(
    snapshot: MeshSnapshot,
    view: ProxyView,
    server_port: GatewayServerPort,
    server: BoundServer,
    chain_name: str,
) -> list[listener_components_pb2.FilterChain]:
    """A terminating ``protocol: TLS`` server: TLS with its settings, then its ``tcp`` route."""
    only = replace(server_port, servers=(server,))
    chains = gateway_tcp_chains(snapshot, view, only, f"{chain_name}|{server.port_name}")
    for chain in chains:
        chain.filter_chain_match.server_names.extend(server_sni_hosts(server))
        chain.transport_socket.CopyFrom(terminating_transport_socket(server, tcp=True))
    return chains


def passthrough_chains(
    snapshot: MeshSnapshot,
    view: ProxyView,
    server_port: GatewayServerPort,
    server: BoundServer,
    chain_name: str,
    taken: set[str],
) -> list[listener_components_pb2.FilterChain]:
    """SNI chains of one ``PASSTHROUGH`` server; ``taken``: SNI hosts earlier chains match."""
    domain = snapshot.mesh.domain
    gateway = f"{server.gateway_namespace}/{server.gateway_name}"
    server_hosts = [h.rpartition("/")[2] for h in server.hosts]
    chains: list[listener_components_pb2.FilterChain] = []
    for vs in snapshot.virtual_services:
        if not vs.spec.tls or gateway not in virtual_service_gateways(vs):
            continue
        if not exported_to(
            frozenset(vs.spec.export_to or ("*",)), vs.namespace, view.node.namespace
        ):
            continue
        hosts = [resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts]
        if not any(hosts_intersect(s, h) for s in server_hosts for h in hosts):
            continue
        for tls in vs.spec.tls:
            for match in tls.match:
                if not _static_match(match, view, server_port.number, gateway, vs.namespace):
                    continue
                if taken.intersection(match.sni_hosts):
                    continue  # istiod logs and skips: Envoy rejects duplicate SNI matches
                taken.update(match.sni_hosts)
                # Named by its SNI hosts: unique on the port, since duplicates are skipped.
                name = f"{chain_name}|{','.join(match.sni_hosts)}"
                chain = _chain(snapshot, view, vs, tls.route, server_port.number, name)
                chain.filter_chain_match.server_names.extend(match.sni_hosts)
                chains.append(chain)
    return chains
