"""Make before break: which resources a proxy may be offered now, given what it has ACKed.

A push that changes clusters goes out in three stages, each gated on the proxy's ACKs:

(a) CDS = the clusters the proxy holds plus the target's (nothing removed), and EDS for them;
(b) once the proxy has ACKed every target cluster *and*, for EDS clusters, their endpoints
    (sent after the cluster itself), the target becomes *active*: LDS and RDS of it are offered;
(c) once LDS and the target routes its listeners use are ACKed, the plan is *final*: CDS, EDS and SDS shrink to
    the target (clusters nothing refers to any more are removed).

The plan is a function of (target, active, what the client holds), so a push arriving
mid-stage simply restarts from the current state: routes are only ever offered from a config
whose clusters are all ACKed with endpoints, and nothing is removed while a route the proxy
holds may still refer to it. It is kept up to date name by name (``Offer``,
``ClusterReadiness``): a push or an ACK costs what it changes, not what the proxy holds
(1000 services are ~8000 resources per proxy).

Known limit: a listener *update* drains the old listener's connections, which keep routing with
the old route table; removing clusters in (c) does not wait for that drain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail import naming
from mainsail.xds.resources import ProxyConfig, XdsResource

# Types whose resources stay (union with the target) until the plan is final.
KEPT_TYPES: Final = (naming.CLUSTER_TYPE, naming.ENDPOINT_TYPE, naming.SECRET_TYPE)
# Types offered only from the active config.
GATED_TYPES: Final = (naming.LISTENER_TYPE, naming.ROUTE_TYPE)

Resources = Mapping[str, XdsResource]


_eds_names: dict[str, str | None] = {}


def eds_service_name(cluster: XdsResource) -> str | None:
    """The ClusterLoadAssignment name an EDS cluster waits for; None for other cluster types.

    None, and nothing cached, for a placeholder (a version the client reported on reconnect,
    no body): the real cluster with that same version may be sent later and must be read.
    """
    if not cluster.body.type_url:
        return None
    if cluster.version not in _eds_names:
        if len(_eds_names) > 100_000:
            _eds_names.clear()
        message = cluster_pb2.Cluster()
        cluster.body.Unpack(message)
        is_eds = message.WhichOneof("cluster_discovery_type") == "type" and (
            message.type == cluster_pb2.Cluster.EDS
        )
        _eds_names[cluster.version] = (
            (message.eds_cluster_config.service_name or message.name) if is_eds else None
        )
    return _eds_names[cluster.version]


_HCM_TYPE: Final = "type.googleapis.com/" + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
_route_names: dict[str, frozenset[str]] = {}


def route_names(listener: XdsResource) -> frozenset[str]:
    """The RDS route configurations a listener's HTTP connection managers ask for."""
    if not listener.body.type_url:
        return frozenset()  # a placeholder: nothing to read, nothing to cache
    if listener.version not in _route_names:
        if len(_route_names) > 100_000:
            _route_names.clear()
        message = listener_pb2.Listener()
        listener.body.Unpack(message)
        chains = [*message.filter_chains]
        if message.HasField("default_filter_chain"):
            chains.append(message.default_filter_chain)
        names: set[str] = set()
        for chain in chains:
            for network_filter in chain.filters:
                if network_filter.typed_config.type_url != _HCM_TYPE:
                    continue
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                if manager.HasField("rds"):
                    names.add(manager.rds.route_config_name)
        _route_names[listener.version] = frozenset(names)
    return _route_names[listener.version]


_NOTHING: Final[Resources] = MappingProxyType({})


def cluster_ready(
    cluster: XdsResource,
    endpoints: Resources,
    *,
    cds_acked: Resources,
    cds_changed_seq: Mapping[str, int],
    eds_acked: Resources,
    eds_acked_seq: Mapping[str, int],
) -> bool:
    """The proxy has ACKed this cluster and (if EDS) its endpoints, sent after the cluster.

    ``cds_changed_seq``: response number that first carried each cluster's current version;
    ``eds_acked_seq``: response number of the ACKed response that last carried each endpoint
    assignment; ``endpoints``: the target's."""
    acked = cds_acked.get(cluster.name)
    if acked is None or acked.version != cluster.version:
        return False
    service = eds_service_name(cluster)
    if service is None:
        return True
    assignment = endpoints.get(service)
    if assignment is None:
        return True  # nothing to wait for: Envoy will use initial_fetch_timeout on its own
    got = eds_acked.get(service)
    return (
        got is not None
        and got.version == assignment.version
        and eds_acked_seq.get(service, -1) > cds_changed_seq.get(cluster.name, -1)
    )


@dataclass(slots=True)
class ClusterReadiness:
    """The target clusters the proxy is not ready for yet (``cluster_ready``), re-checked only
    for the clusters a target change or an ACK concerns (``recheck``)."""

    unready: set[str] = field(default_factory=set)
    recheck: set[str] = field(default_factory=set)
    # Clusters whose EDS service is not their own name (Istio's are), by service, and theirs:
    # an index of every cluster cost 100 proxies x 4000 sets.
    _aliased: dict[str, set[str]] = field(default_factory=dict)
    _service_of: dict[str, str] = field(default_factory=dict)

    def target_changed(
        self, target: ProxyConfig, clusters: Iterable[str], endpoints: Iterable[str]
    ) -> None:
        """The target's clusters ``clusters`` and endpoint assignments ``endpoints`` changed."""
        wanted = target.of_type(naming.CLUSTER_TYPE)
        for name in clusters:
            old = self._service_of.pop(name, None)
            if old is not None:
                self._aliased[old].discard(name)
            cluster = wanted.get(name)
            if cluster is None:
                self.unready.discard(name)
                self.recheck.discard(name)
                continue
            service = eds_service_name(cluster)
            if service is not None and service != name:
                self._service_of[name] = service
                self._aliased.setdefault(service, set()).add(name)
            self.recheck.add(name)
        for service in endpoints:
            self.endpoints_changed(service)

    def endpoints_changed(self, service: str) -> None:
        self.recheck.add(service)  # the cluster of that name, if any (a superset is safe)
        self.recheck.update(self._aliased.get(service, ()))

    def ready(
        self,
        target: ProxyConfig,
        *,
        cds_acked: Resources,
        cds_changed_seq: Mapping[str, int],
        eds_acked: Resources,
        eds_acked_seq: Mapping[str, int],
    ) -> bool:
        """Every target cluster is ready (the caller checks no CDS response is in flight)."""
        wanted = target.of_type(naming.CLUSTER_TYPE)
        endpoints = target.of_type(naming.ENDPOINT_TYPE)
        for name in self.recheck:
            cluster = wanted.get(name)
            if cluster is not None and not cluster_ready(
                cluster,
                endpoints,
                cds_acked=cds_acked,
                cds_changed_seq=cds_changed_seq,
                eds_acked=eds_acked,
                eds_acked_seq=eds_acked_seq,
            ):
                self.unready.add(name)
            else:
                self.unready.discard(name)
        self.recheck.clear()
        return not self.unready


def routes_applied(target: ProxyConfig, lds_acked: Resources, rds_acked: Resources) -> bool:
    """The proxy ACKed exactly the target's listeners and the target routes they refer to (the
    caller checks no LDS or RDS response is in flight)."""
    listeners = target.of_type(naming.LISTENER_TYPE)
    if len(lds_acked) != len(listeners):
        return False
    for name, listener in listeners.items():
        got = lds_acked.get(name)
        if got is None or got.version != listener.version:
            return False
    routes = target.of_type(naming.ROUTE_TYPE)
    for listener in listeners.values():
        for name in route_names(listener):
            route = routes.get(name)
            if route is not None and not (
                (got := rds_acked.get(name)) is not None and got.version == route.version
            ):
                return False
    return True


@dataclass(slots=True)
class Offer:
    """What the plan offers of one type now, before the client's subscription narrows it.

    ``held``: a gated type while nothing is active: offer nothing new. Otherwise ``base`` (the
    target's resources; the active config's for gated types) plus ``kept``: for kept types
    before the plan is final, names not in ``base`` that the client holds or an earlier target
    offered (so a cluster kept from a superseded target still gets its endpoints: Envoy holds
    the CDS ACK until every warming cluster has them). ``kept`` never shares a name with
    ``base``.
    """

    base: Resources = field(default_factory=lambda: _NOTHING)
    kept: dict[str, XdsResource] = field(default_factory=dict)
    held: bool = False
    keeping: bool = False

    def get(self, name: str) -> XdsResource | None:
        found = self.base.get(name)
        return found if found is not None else self.kept.get(name)

    def names(self) -> Iterator[str]:
        yield from self.base
        yield from self.kept

    def update(
        self,
        base: Resources,
        *,
        keeping: bool,
        changed: Iterable[str],
        sent: Resources,
    ) -> set[str]:
        """Move to ``base``; ``changed``: every name whose base or held entry changed since the
        last update (and, when keeping starts, every name held beyond the base). Returns the
        names whose offer may have changed."""
        touched = set(changed)
        if self.kept and not keeping:
            touched.update(self.kept)
            self.kept = {}
        if keeping:
            old_base, kept = self.base, self.kept
            for name in touched:
                if name in base:
                    kept.pop(name, None)
                    continue
                held = sent.get(name)
                if held is None:
                    held = old_base.get(name)
                if held is not None:
                    kept[name] = held
        self.base, self.keeping, self.held = base, keeping, False
        return touched
