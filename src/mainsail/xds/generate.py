"""``generate(snapshot, node)``: everything one proxy should hold. Pure; no I/O, no clock.

``Translator`` is the same function for many proxies of one snapshot: what depends only on a
proxy's namespace and what it can see (service clusters, their endpoints, the HTTP-proxy route
table) is built and serialized once and shared by every proxy with the same key: namespace, proxy
type, address family, visible services, the Sidecar resource in force and the workload-selected
DestinationRules (plus the labels when a route matches ``sourceLabels``). What is the
proxy's own (listeners on its address, inbound clusters) is built per proxy. A Translator is made
per snapshot and dropped with it, so sharing never crosses snapshots.

Across snapshots, with the control plane's ``TranslationCache``: each service's clusters and
endpoints, each HTTP-proxy vhost (and its encoding, ``xds.route_encoding``) and each proxy's
listeners are reused while what they are built from is unchanged. Their keys: the service or
vhost with the DestinationRules of the hosts it reads (``xds.rule_inputs``); a proxy's listeners
with what listener generation reads (``xds.listener_inputs``: not HTTP routes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from envoy.config.cluster.v3 import cluster_pb2

from mainsail import naming
from mainsail.config.istio.destination_rule import (
    DestinationRule,
    PortTrafficPolicy,
    TrafficPolicy,
)
from mainsail.snapshot.destination_rules import selecting_rules
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import (
    ProxyView,
    Visibility,
    build_proxy_view,
    governing_sidecar,
    visibility,
)
from mainsail.xds.clusters import build_local_clusters, build_outbound_clusters
from mainsail.xds.credentials import credential_secrets
from mainsail.xds.endpoints import build_endpoints
from mainsail.xds.gateways import gateway_server_ports, https_route_ports
from mainsail.xds.inbound import build_inbound_listeners
from mainsail.xds.layered import LayeredResources
from mainsail.xds.listener_inputs import (
    namespace_listener_inputs,
    proxy_listener_key,
    routed_listener_inputs,
    snapshot_listener_inputs,
)
from mainsail.xds.listeners import build_gateway_listeners, build_sidecar_listeners
from mainsail.xds.mixer import mixer_endpoints
from mainsail.xds.resources import ProxyConfig, XdsResource
from mainsail.xds.route_encoding import packed_route_configuration
from mainsail.xds.routes import (
    Reuse,
    build_gateway_routes,
    build_sidecar_http_proxy_routes,
    sidecar_http_proxy_vhosts,
)
from mainsail.xds.rule_inputs import RuleInputs
from mainsail.xds.sidecar_ingress import (
    build_ingress_clusters,
    build_ingress_listeners,
    has_sidecar_ingress,
    ingress_ports,
)
from mainsail.xds.tcp_outbound import build_tcp_outbound_listeners, tcp_outbound_ports
from mainsail.xds.telemetry import with_telemetry
from mainsail.xds.telemetry_tracing import tracing_clusters
from mainsail.xds.translation_cache import Same, TranslationCache

Shared = tuple[XdsResource, ...]
# Resources by name, shared by every proxy with the same inputs (see ``xds.layered``).
Layer = Mapping[str, XdsResource]
_NO_RESOURCES: Layer = MappingProxyType({})


class Translator:
    def __init__(self, snapshot: MeshSnapshot, cache: TranslationCache | None = None) -> None:
        self.snapshot = snapshot
        self._shared: dict[Hashable, Shared] = {}
        # Per (namespace, governing Sidecar): what its proxies may see (sidecar ids are stable
        # for the snapshot this Translator lives with).
        self._visibility: dict[tuple[str, int], Visibility] = {}
        # ... and the hostnames of those services (a per-proxy tuple of 1000 was measurable).
        self._hostnames: dict[tuple[str, int], tuple[str, ...]] = {}
        self._pairs: dict[Hashable, tuple[Layer, Layer]] = {}
        self._secrets: dict[str, Layer] = {}
        self._cache = cache
        self._rules = RuleInputs(snapshot, cache)
        if cache is not None:
            cache.new_round()
            # What every cached piece may read of the snapshot besides its own inputs, as
            # tokens: the services (values), the mesh settings, the PeerAuthentications
            # (contents). DestinationRules: only those of the hosts a piece reads
            # (``xds.rule_inputs``), so a rule for one host re-translates only that host.
            self._snapshot_key: tuple[Hashable, ...] = (
                cache.token(("services", tuple(snapshot.services.values()))),
                Same(snapshot.mesh),
                # Auto mTLS reads namespace and endpoint workload PeerAuthentications.
                cache.token(("peer_authentications", _peer_authentications(snapshot))),
            )
            self._rules_token = cache.token(
                ("rules", tuple(Same(r) for r in snapshot.destination_rules))
            )
            # Listeners: everything they read but HTTP routes (``xds.listener_inputs``).
            self._listener_inputs = snapshot_listener_inputs(snapshot, cache, self._snapshot_key[0])
        # Per (namespace, governing Sidecar): does it see a TCP port (a listener whose
        # ``tcp_proxy`` reads VirtualService routes and DestinationRules)?
        self._sees_tcp: dict[tuple[str, int], bool] = {}
        self._namespace_tokens: dict[str, int] = {}
        self._routed_token: int | None = None
        self._routes_read_labels = any(
            match.source_labels
            for vs in snapshot.virtual_services
            for http in vs.spec.http
            for match in http.match
        )
        self._locality_reads_labels = bool(
            snapshot.mesh.locality_lb_setting.failover_priority
        ) or any(
            policy.load_balancer.locality_lb_setting.failover_priority
            for rule in snapshot.destination_rules
            for policy in _traffic_policies(rule)
            if policy.load_balancer is not None
            and policy.load_balancer.locality_lb_setting is not None
        )

    def _once(self, key: Hashable, build: Callable[[], Shared]) -> Shared:
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = build()
        return found

    def _once_pair(
        self, key: Hashable, build: Callable[[], tuple[Layer, Layer]]
    ) -> tuple[Layer, Layer]:
        found = self._pairs.get(key)
        if found is None:
            found = self._pairs[key] = build()
        return found

    def _namespace_inputs(self, namespace: str) -> int:
        found = self._namespace_tokens.get(namespace)
        if found is None:
            assert self._cache is not None
            found = namespace_listener_inputs(self.snapshot, self._cache, namespace)
            self._namespace_tokens[namespace] = found
        return found

    def _routed_inputs(self) -> int:
        if self._routed_token is None:
            assert self._cache is not None
            self._routed_token = routed_listener_inputs(
                self.snapshot, self._cache, self._rules_token
            )
        return self._routed_token

    def _per_service(self, view: ProxyView, seen: Hashable) -> tuple[Layer, Layer]:
        """Service clusters and endpoints, one service at a time through the cache. A service's
        entry is keyed by everything they are built from: the proxy's sharing key (``seen``,
        the Sidecar in force by identity), the snapshot's services, DestinationRules and mesh
        settings, the service and its endpoints."""
        cache = self._cache
        assert cache is not None
        snapshot = self.snapshot
        proxy_key = (
            cache.token(("proxy", seen, Same(view.sidecar))),
            self._snapshot_key,
        )
        founds: list[tuple[Shared, Shared]] = []
        for service in view.visible_services:
            key = (
                "service",
                proxy_key,
                service,
                tuple(snapshot.endpoints_of(service.hostname, p.port) for p in service.ports),
                self._rules.for_host(view.node.namespace, service.hostname),
            )
            one = replace(view, visible_services=(service,))
            found = cache.get(
                key,
                lambda one=one: (  # type: ignore[misc]
                    _packed_clusters(build_outbound_clusters(snapshot, one)),
                    _packed_endpoints(snapshot, one),
                ),
            )
            founds.append(found)
        # The same layer objects as long as every service's entry is the same: the ADS session
        # then sees at a glance that a proxy's clusters and endpoints did not change.
        return cache.get(("layers", tuple(Same(f) for f in founds)), lambda: _layers(founds))

    def generate(self, node: ProxyNode) -> ProxyConfig:
        snapshot = self.snapshot
        sidecar = governing_sidecar(snapshot, node)
        key = (node.namespace, id(sidecar))
        seen_by = self._visibility.get(key)
        if seen_by is None:
            seen_by = self._visibility[key] = visibility(snapshot, node.namespace, sidecar)
            self._hostnames[key] = tuple(s.hostname for s in seen_by.services)
        view = build_proxy_view(snapshot, node, seen_by)
        seen = (
            node.namespace,
            node.proxy_type,
            ipaddress.ip_address(node.ip).version,
            self._hostnames[key],
            # What else shapes the shared resources: the Sidecar (egress scope, ports, outbound
            # policy) and the DestinationRules whose workloadSelector picks this proxy.
            (sidecar.namespace, sidecar.name) if sidecar is not None else None,
            selecting_rules(snapshot, node.namespace, node.label_map),
            # Locality load balancing: EDS priorities/weights (and DNS clusters' inline
            # endpoints) follow the proxy's locality, and its labels for ``failoverPriority``;
            # on the local platform special clusters and DNS caches differ too.
            view.workload.locality if view.workload is not None else "",
            node.labels if self._locality_reads_labels else (),
            node.interception_mode,
        )
        if self._cache is None:
            clusters, endpoints = self._once_pair(
                ("cds+eds", seen),
                lambda: _layers(
                    [
                        (
                            _packed_clusters(build_outbound_clusters(snapshot, view)),
                            _packed_endpoints(snapshot, view),
                        )
                    ]
                ),
            )
        else:
            clusters, endpoints = self._once_pair(
                ("cds+eds", seen), lambda: self._per_service(view, seen)
            )
        # Sidecar ``ingress`` replaces the Service-derived inbound listeners and clusters.
        ingress = has_sidecar_ingress(view)
        own_view = replace(view, inbound=()) if ingress else view
        local_clusters = _packed_clusters(
            build_local_clusters(snapshot, own_view)
            + (build_ingress_clusters(view) if ingress else [])
            + tracing_clusters(snapshot, view)
        )
        if self._cache is None:
            listeners = self._listeners(view, own_view, ingress)
        else:
            sees_tcp = self._sees_tcp.get(key)
            if sees_tcp is None:
                sees_tcp = self._sees_tcp[key] = any(
                    p.protocol.is_tcp for s in seen_by.services for p in s.ports
                )
            listeners = self._cache.get(
                proxy_listener_key(
                    snapshot,
                    view,
                    self._listener_inputs,
                    self._namespace_inputs(node.namespace),
                    self._routed_inputs() if sees_tcp or node.proxy_type == "router" else None,
                ),
                lambda: self._listeners(view, own_view, ingress),
            )
        if node.proxy_type == "router":
            server_ports = gateway_server_ports(snapshot, view)
            routes: Shared = tuple(
                XdsResource.pack(r.name, r)
                for r in (
                    *(
                        build_gateway_routes(snapshot, view, p)
                        for p in server_ports
                        if p.protocol.is_http
                    ),
                    *(
                        build_gateway_routes(snapshot, view, p, name)
                        for name, p in https_route_ports(server_ports)
                    ),
                )
            )
        else:
            routes = ()
            if node.http_proxy_port:
                labels = node.labels if self._routes_read_labels else ()
                reuse = None
                if self._cache is not None:
                    # Labels matter to routes through sourceLabels and workload-selected rules.
                    rules = selecting_rules(snapshot, node.namespace, node.label_map)
                    reads_labels = self._routes_read_labels or bool(rules)
                    reuse = Reuse(
                        self._cache,
                        (self._snapshot_key, node.namespace, node.labels if reads_labels else ()),
                        lambda service, vs: self._rules.for_vhost(node.namespace, service, vs),
                    )
                routes = self._once(
                    ("rds", seen, labels),
                    lambda: _packed_http_proxy_routes(snapshot, view, reuse),
                )
        secrets = self._credentials(node.namespace)
        return _proxy_config(
            {
                naming.CLUSTER_TYPE: LayeredResources(_by_name(local_clusters), clusters),
                naming.ENDPOINT_TYPE: LayeredResources(
                    _by_name(
                        XdsResource.pack(e.cluster_name, e) for e in mixer_endpoints(snapshot, view)
                    ),
                    endpoints,
                ),
                naming.LISTENER_TYPE: listeners,
                naming.ROUTE_TYPE: routes,
                # Only where the namespace has Secrets: other proxies' configs stay as they were.
                **({naming.SECRET_TYPE: secrets} if secrets else {}),
            }
        )

    def _credentials(self, namespace: str) -> Layer:
        """The ``credentialName`` secrets a proxy of ``namespace`` may read, shared by every
        proxy there (Envoy subscribes by name, so each only receives the ones it references)."""
        found = self._secrets.get(namespace)
        if found is None:
            found = self._secrets[namespace] = (
                _by_name(
                    XdsResource.pack(s.name, s)
                    for s in credential_secrets(self.snapshot, namespace)
                )
                if any(ns == namespace for ns, _ in self.snapshot.credentials)
                else _NO_RESOURCES
            )
        return found

    def _listeners(self, view: ProxyView, own_view: ProxyView, ingress: bool) -> Layer:
        """Every listener of one proxy, Istio telemetry applied (``own_view``: ``view`` without
        the Service-derived inbound ports when a Sidecar ``ingress`` replaces them)."""
        snapshot = self.snapshot
        node = view.node
        if node.proxy_type == "router":
            listeners = build_gateway_listeners(
                snapshot, view, gateway_server_ports(snapshot, view)
            )
        else:
            listeners = build_sidecar_listeners(own_view) + build_inbound_listeners(
                snapshot, own_view
            )
            if ingress:
                listeners += build_ingress_listeners(snapshot, view)
            if node.interception_mode == "NONE":
                listeners += build_tcp_outbound_listeners(
                    snapshot, view, tcp_outbound_ports(view, node.own_ports | ingress_ports(view))
                )
        return _by_name(
            XdsResource.pack(lst.name, lst) for lst in with_telemetry(snapshot, view, listeners)
        )


def _traffic_policies(rule: DestinationRule) -> list[TrafficPolicy | PortTrafficPolicy]:
    """Every traffic policy of a rule: top level, subsets, and their port-level settings."""
    tops = [rule.spec.traffic_policy, *(s.traffic_policy for s in rule.spec.subsets)]
    found: list[TrafficPolicy | PortTrafficPolicy] = []
    for top in tops:
        if top is not None:
            found.append(top)
            found.extend(top.port_level_settings)
    return found


def _peer_authentications(snapshot: MeshSnapshot) -> tuple[str, ...]:
    """Every PeerAuthentication (legacy ones converted anew per snapshot) by content."""
    security = snapshot.security
    return tuple(
        policy.model_dump_json()
        for policies in (security.modern, security.legacy_authn)
        for found in policies.peer_authentications.values()
        for policy in found
    )


def _proxy_config(by_type: Mapping[str, Layer | Iterable[XdsResource]]) -> ProxyConfig:
    """``ProxyConfig.of``, keeping the prebuilt (layered) mappings as they are."""
    return ProxyConfig(
        MappingProxyType(
            {
                type_url: found if isinstance(found, Mapping) else _by_name(found)
                for type_url, found in by_type.items()
            }
        )
    )


def _by_name(resources: Iterable[XdsResource]) -> Layer:
    return MappingProxyType({r.name: r for r in resources})


def _layers(founds: Iterable[tuple[Shared, Shared]]) -> tuple[Layer, Layer]:
    """The cluster and endpoint layers of services' (clusters, endpoints) pairs."""
    pairs = list(founds)
    return (
        _by_name(c for clusters, _ in pairs for c in clusters),
        _by_name(e for _, endpoints in pairs for e in endpoints),
    )


def _packed_clusters(clusters: list[cluster_pb2.Cluster]) -> Shared:
    return tuple(XdsResource.pack(c.name, c) for c in clusters)


def _packed_endpoints(snapshot: MeshSnapshot, view: ProxyView) -> Shared:
    return tuple(XdsResource.pack(e.cluster_name, e) for e in build_endpoints(snapshot, view))


def _packed_http_proxy_routes(
    snapshot: MeshSnapshot, view: ProxyView, reuse: Reuse | None
) -> Shared:
    if reuse is None:
        config = build_sidecar_http_proxy_routes(snapshot, view)
        return (XdsResource.pack(config.name, config),)
    vhosts = sidecar_http_proxy_vhosts(snapshot, view, reuse)
    return (packed_route_configuration(naming.HTTP_PROXY_ROUTE, vhosts, reuse.cache),)


def generate(snapshot: MeshSnapshot, node: ProxyNode) -> ProxyConfig:
    return Translator(snapshot).generate(node)
