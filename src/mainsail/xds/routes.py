"""RDS: the sidecar's HTTP-proxy route table and the gateways' ``http.<port>`` tables.

Reads: services, VirtualService (bound to ``mesh`` or to a Gateway), Gateway servers, the
``outboundTrafficPolicy`` mode (the proxy's Sidecar, else MeshConfig; in ``ProxyView``). Host precedence: exact hosts, then the most specific wildcard
VirtualService; first match wins inside a VirtualService; no fallback route under a VS (404 NR).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import timedelta

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from mainsail import naming
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import MeshService, ServicePort
from mainsail.snapshot.hosts import (
    host_matches,
    hosts_intersect,
    resolve_gateway_name,
    resolve_short_name,
    specificity,
)
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.sidecar_scope import OutboundMode
from mainsail.snapshot.view import ProxyView
from mainsail.xds.gateways import GatewayServerPort
from mainsail.xds.http_routes import (
    RouteContext,
    default_route,
    translate_virtual_service,
    virtual_service_gateways,
)
from mainsail.xds.protos import duration, uint32
from mainsail.xds.telemetry_peer import HEADER_TO_METADATA_FILTER, passthrough_route_config
from mainsail.xds.translation_cache import Same, TranslationCache

MAX_DIRECT_RESPONSE_BODY = 1048576


def route_configuration(name: str, vhosts: list[rc.VirtualHost]) -> route_pb2.RouteConfiguration:
    config = route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=vhosts,
        max_direct_response_body_size_bytes=uint32(MAX_DIRECT_RESPONSE_BODY),
    )
    config.validate_clusters.value = False
    return config


class _VirtualServiceHosts:
    """Which VirtualService claims a host: an exact host first (oldest VS wins), else the most
    specific wildcard. Exact hosts are a dict lookup: scanning every VirtualService per service
    is quadratic in the mesh's size."""

    def __init__(self, candidates: list[tuple[VirtualService, tuple[str, ...]]]) -> None:
        self._exact: dict[str, VirtualService] = {}
        self._wildcards: list[tuple[str, VirtualService]] = []
        for vs, hosts in candidates:
            for pattern in hosts:
                if pattern == "*":
                    continue
                if pattern.startswith("*"):
                    self._wildcards.append((pattern, vs))
                else:
                    self._exact.setdefault(pattern, vs)

    def claiming(self, hostname: str) -> VirtualService | None:
        found = self._exact.get(hostname)
        if found is not None:
            return found
        best: tuple[tuple[int, int], VirtualService] | None = None
        for pattern, vs in self._wildcards:
            if not host_matches(pattern, hostname):
                continue
            key = specificity(pattern)
            if best is None or key < best[0]:
                best = (key, vs)
        return best[1] if best else None


def _alt_domains(service: MeshService, proxy_namespace: str, domain: str, port: int) -> list[str]:
    names = [service.hostname]
    if service.registry == "Kubernetes":
        names = [f"{service.name}.{service.namespace}", f"{service.name}.{service.namespace}.svc"]
        if service.namespace == proxy_namespace:
            names.insert(0, service.name)
        names.append(service.hostname)
    names.extend(service.addresses)
    domains = [f"{n}:{port}" for n in names]
    if port == 80:
        domains = names + domains
    return domains


def _http_proxy_ports(service: MeshService) -> list[ServicePort]:
    return [p for p in service.ports if p.protocol.is_http or p.protocol == "UnsupportedProtocol"]


def build_sidecar_http_proxy_routes(
    snapshot: MeshSnapshot, view: ProxyView, reuse: Reuse | None = None
) -> route_pb2.RouteConfiguration:
    """``http_proxy``: every visible service port reachable through the HTTP-proxy listener."""
    return route_configuration(
        naming.HTTP_PROXY_ROUTE, sidecar_http_proxy_vhosts(snapshot, view, reuse)
    )


def sidecar_http_proxy_vhosts(
    snapshot: MeshSnapshot, view: ProxyView, reuse: Reuse | None = None
) -> list[rc.VirtualHost]:
    """The virtual hosts of ``http_proxy``, in order (a reused vhost is the cached object).

    With ``reuse``, a service port's vhost is taken from the cache when its key matches: the
    VirtualService claiming it (by identity), the service, port and domains, and
    ``reuse.key``, which the caller makes hold everything else a vhost reads (the snapshot's
    services, the mesh settings, the proxy's namespace and, when routes or rules read them, its
    labels), and ``reuse.rules``: the DestinationRules it reads."""
    domain = snapshot.mesh.domain
    candidates = [
        (vs, tuple(resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts))
        for vs in view.virtual_services
        # Only a VirtualService bound to ``mesh`` routes sidecar traffic (gateway-only ones
        # would otherwise leave the service's vhost with no route at all).
        if vs.spec.http and "mesh" in virtual_service_gateways(vs)
    ]
    vhosts: list[rc.VirtualHost] = []
    seen_domains: set[str] = set()
    claimed_hosts: set[str] = set()
    claims = _VirtualServiceHosts(candidates)
    for service in view.visible_services:
        vs = claims.claiming(service.hostname)
        if vs is not None:
            claimed_hosts.add(service.hostname)
        for port in _http_proxy_ports(service):
            domains = [
                d
                for d in _alt_domains(service, view.node.namespace, domain, port.port)
                if d not in seen_domains
            ]
            seen_domains.update(domains)

            def build(
                service: MeshService = service,
                port: int = port.port,
                vs: VirtualService | None = vs,
                domains: list[str] = domains,
            ) -> rc.VirtualHost:
                ctx = _context(snapshot, view, "mesh", port)
                return rc.VirtualHost(
                    name=naming.build_virtual_host_name(service.hostname, port),
                    domains=domains,
                    routes=(
                        translate_virtual_service(vs, ctx)
                        if vs is not None
                        else [default_route(ctx, service, port)]
                    ),
                    include_request_attempt_count=True,
                )

            if reuse is None:
                vhosts.append(build())
            else:
                key = (
                    "http_proxy_vhost",
                    reuse.key,
                    None if vs is None else Same(vs),
                    service,
                    port.port,
                    tuple(domains),
                    None if reuse.rules is None else reuse.rules(service, vs),
                )
                vhosts.append(reuse.cache.get(key, build))
    # VirtualService hosts that are not services: reachable on port 80 (Istio's quirk).
    for vs, hosts in candidates:
        for host in hosts:
            if host.startswith("*") or host in snapshot.services or host in claimed_hosts:
                continue
            domains = [d for d in (host, f"{host}:80") if d not in seen_domains]
            if not domains:
                continue
            seen_domains.update(domains)
            vhosts.append(
                rc.VirtualHost(
                    name=naming.build_virtual_host_name(host, 80),
                    domains=domains,
                    routes=translate_virtual_service(vs, _context(snapshot, view, "mesh", 80)),
                    include_request_attempt_count=True,
                )
            )
    vhosts.append(_catch_all(snapshot, view.outbound_traffic_policy, _egress_cluster(view)))
    return vhosts


def _egress_cluster(view: ProxyView) -> str:
    """istiod's ``buildCatchAllVirtualHost``: under ALLOW_ANY, the Sidecar's
    ``outboundTrafficPolicy.egressProxy`` takes unknown hosts' traffic instead of the passthrough
    cluster; its cluster is ``outbound|<port>|<subset>|<host>`` with the host as written."""
    policy = view.sidecar.spec.outbound_traffic_policy if view.sidecar is not None else None
    proxy = policy.egress_proxy if policy is not None else None
    if proxy is None:
        return naming.PASSTHROUGH_CLUSTER
    port = proxy.port.number if proxy.port is not None and proxy.port.number else 0
    return naming.build_outbound_cluster(port, proxy.host, proxy.subset or "")


@dataclass(frozen=True, slots=True)
class Reuse:
    """A cross-snapshot cache and the key part standing for the inputs a piece reads besides
    its own (see ``build_sidecar_http_proxy_routes``)."""

    cache: TranslationCache
    key: Hashable
    # The DestinationRules a service's vhost reads (under its VirtualService), as a key part;
    # ``key`` must then not stand for all rules (``xds.rule_inputs``).
    rules: Callable[[MeshService, VirtualService | None], Hashable] | None = None


def _catch_all(
    snapshot: MeshSnapshot, mode: OutboundMode, egress_cluster: str = naming.PASSTHROUGH_CLUSTER
) -> rc.VirtualHost:
    if mode == "REGISTRY_ONLY":
        return rc.VirtualHost(
            name=naming.BLOCK_ALL_VHOST,
            domains=["*"],
            routes=[
                rc.Route(
                    name=naming.BLOCK_ALL_VHOST,
                    match=rc.RouteMatch(prefix="/"),
                    direct_response=rc.DirectResponseAction(status=502),
                )
            ],
        )
    route = rc.Route(
        name=naming.ALLOW_ANY_VHOST,
        match=rc.RouteMatch(prefix="/"),
        route=rc.RouteAction(cluster=egress_cluster, timeout=duration(timedelta(0))),
    )
    if egress_cluster == naming.PASSTHROUGH_CLUSTER:
        # Istio's metrics name a passthrough request's service by its Host header.
        route.typed_per_filter_config[HEADER_TO_METADATA_FILTER].CopyFrom(
            passthrough_route_config()
        )
    return rc.VirtualHost(name=naming.ALLOW_ANY_VHOST, domains=["*"], routes=[route])


def _context(snapshot: MeshSnapshot, view: ProxyView, gateway: str, port: int) -> RouteContext:
    return RouteContext(
        snapshot=snapshot,
        gateway=gateway,
        port=port,
        proxy_namespace=view.node.namespace,
        proxy_labels=view.node.label_map,
    )


def build_gateway_routes(
    snapshot: MeshSnapshot, view: ProxyView, server_port: GatewayServerPort, name: str = ""
) -> route_pb2.RouteConfiguration:
    """``http.<port>`` (or ``name``: an HTTPS server's own): one vhost per host of each
    VirtualService bound to the port's servers."""
    domain = snapshot.mesh.domain
    by_host: dict[str, list[rc.Route]] = {}
    for server in server_port.servers:
        gateway_name = f"{server.gateway_namespace}/{server.gateway_name}"
        ctx = _context(snapshot, view, gateway_name, server_port.number)
        for vs in view.virtual_services:
            if not vs.spec.http:
                continue
            if gateway_name not in {
                resolve_gateway_name(g, vs.namespace) for g in vs.spec.gateways
            }:
                continue
            vs_hosts = [resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts]
            for host in vs_hosts:
                if not any(
                    _server_host_admits(server_host, host, vs.namespace, server.gateway_namespace)
                    for server_host in server.hosts
                ):
                    continue
                routes = translate_virtual_service(vs, ctx)
                by_host.setdefault(host, []).extend(routes)
    vhosts = [
        rc.VirtualHost(
            name=naming.build_virtual_host_name(host, server_port.number),
            domains=[host],
            routes=_catch_alls_last(routes),
            include_request_attempt_count=True,
            require_tls=rc.VirtualHost.ALL
            if _redirects_to_https(server_port, host)
            else rc.VirtualHost.NONE,
        )
        for host, routes in sorted(by_host.items(), key=lambda item: specificity(item[0]))
    ]
    if not vhosts:
        vhosts = [rc.VirtualHost(name=f"blackhole:{server_port.number}", domains=["*"])]
    config = route_configuration(
        name or naming.build_gateway_http_route_name(server_port.number), vhosts
    )
    config.ignore_port_in_host_matching = True
    return config


def _redirects_to_https(server_port: GatewayServerPort, host: str) -> bool:
    """``tls.httpsRedirect`` on a server that serves ``host``: Envoy answers 301 to https."""
    return any(
        server.https_redirect
        and any(hosts_intersect(h.rpartition("/")[2], host) for h in server.hosts)
        for server in server_port.servers
    )


def _server_host_admits(server_host: str, host: str, vs_namespace: str, gw_namespace: str) -> bool:
    namespace, sep, pattern = server_host.rpartition("/")
    if sep:
        if namespace == "." and vs_namespace != gw_namespace:
            return False
        if namespace not in ("*", ".") and namespace != vs_namespace:
            return False
    else:
        pattern = server_host
    return hosts_intersect(pattern, host)


def _catch_alls_last(routes: list[rc.Route]) -> list[rc.Route]:
    def is_catch_all(route: rc.Route) -> bool:
        return (
            route.match.WhichOneof("path_specifier") == "prefix"
            and route.match.prefix == "/"
            and not route.match.headers
            and not route.match.query_parameters
        )

    return [r for r in routes if not is_catch_all(r)] + [r for r in routes if is_catch_all(r)]
