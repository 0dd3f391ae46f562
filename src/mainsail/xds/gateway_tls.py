"""TLS Gateway servers (reference §3.6): HTTPS termination and SNI passthrough.

- An HTTPS server whose ``tls.mode`` is not a passthrough one terminates TLS in its own filter
  chain: ``server_names`` = the server's hosts with any ``<ns>/`` stripped, deduplicated and
  sorted, none at all when one of them is ``*`` (istiod's ``getSNIHostsForServer``; Envoy takes
  no bare ``*``). The chain's ``DownstreamTlsContext`` is istiod's ``BuildListenerTLSContext``
  (``xds.server_tls``: file certificates over SDS as ``file-cert:``/``file-root:``,
  ``ISTIO_MUTUAL`` the workload SVID ``default``/``ROOTCA``); its HCM reads RDS
  ``https.<port>.<portName>.<gateway>.<namespace>``.
- A ``PASSTHROUGH`` server does not terminate: every ``tls`` route match of a VirtualService
  bound to the gateway (hosts intersecting the server's) becomes a chain with ``server_names`` =
  ``sniHosts`` and a ``tcp_proxy`` to the route's destination; SNI hosts already taken on the
  port are dropped, as istiod does, since Envoy rejects duplicate chain matches.

Reads: Gateway servers, VirtualService ``tls`` routes.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2

from mainsail.config.istio.gateway import ServerTLSSettings
from mainsail.snapshot.hosts import hosts_intersect, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView, exported_to
from mainsail.xds.gateways import BoundServer, GatewayServerPort
from mainsail.xds.http_routes import virtual_service_gateways
from mainsail.xds.server_tls import server_tls_context
from mainsail.xds.tcp_routes import _chain, _static_match
from mainsail.xds.tls import tls_transport_socket


def server_sni_hosts(server: BoundServer) -> list[str]:
    """istiod's ``getSNIHostsForServer``; ``*`` anywhere means no SNI match at all."""
    hosts = {h.rpartition("/")[2] for h in server.hosts}
    if "*" in hosts:
        return []
    return sorted(hosts)


def terminating_transport_socket(server: BoundServer) -> base_pb2.TransportSocket:
    return tls_transport_socket(server_tls_context(server.tls or ServerTLSSettings()))


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
                chain = _chain(
                    snapshot,
                    view,
                    vs,
                    tls.route,
                    server_port.number,
                    f"{chain_name}|{len(chains)}",
                )
                chain.filter_chain_match.server_names.extend(match.sni_hosts)
                chains.append(chain)
    return chains
