"""Make before break: which resources a proxy may be offered now, given what it has ACKed.

A push that changes clusters goes out in three stages, each gated on the proxy's ACKs:

(a) CDS = the clusters the proxy holds plus the target's (nothing removed), and EDS for them;
(b) once the proxy has ACKed every target cluster *and*, for EDS clusters, their endpoints
    (sent after the cluster itself), the target becomes *active*: LDS and RDS of it are offered;
(c) once LDS and the target routes its listeners use are ACKed, the plan is *final*: CDS, EDS and SDS shrink to
    the target (clusters nothing refers to any more are removed).

The plan is a pure function of (target, active, what the client holds), so a push arriving
mid-stage simply restarts from the current state: routes are only ever offered from a config
whose clusters are all ACKed with endpoints, and nothing is removed while a route the proxy
holds may still refer to it.

Known limit: a listener *update* drains the old listener's connections, which keep routing with
the old route table; removing clusters in (c) does not wait for that drain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
Plan = Mapping[str, Resources | None]  # None: hold (offer nothing new of this type)


@dataclass(frozen=True, slots=True)
class ClientView:
    """What the session knows the proxy holds (live mappings, read-only here).

    ``*_sent``: what the proxy holds once everything in flight is applied; ``*_acked``:
    confirmed. ``cds_changed_seq``: response number that first carried each cluster's current
    version; ``eds_acked_seq``: response number of the ACKed response that last carried each
    endpoint assignment. ``*_in_flight``: a response of that type awaits its ACK (it may
    change what the proxy holds, so nothing is concluded from ACKs until it settles).
    """

    cds_sent: Resources
    cds_acked: Resources
    cds_changed_seq: Mapping[str, int]
    eds_sent: Resources
    eds_acked: Resources
    eds_acked_seq: Mapping[str, int]
    sds_sent: Resources
    lds_acked: Resources
    rds_acked: Resources
    cds_in_flight: bool = False
    routes_in_flight: bool = False


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


def cluster_ready(cluster: XdsResource, target: ProxyConfig, view: ClientView) -> bool:
    """The proxy has ACKed this cluster and (if EDS) its endpoints, sent after the cluster."""
    acked = view.cds_acked.get(cluster.name)
    if acked is None or acked.version != cluster.version:
        return False
    service = eds_service_name(cluster)
    if service is None:
        return True
    assignment = target.of_type(naming.ENDPOINT_TYPE).get(service)
    if assignment is None:
        return True  # nothing to wait for: Envoy will use initial_fetch_timeout on its own
    got = view.eds_acked.get(service)
    return (
        got is not None
        and got.version == assignment.version
        and view.eds_acked_seq.get(service, -1) > view.cds_changed_seq.get(cluster.name, -1)
    )


def clusters_ready(target: ProxyConfig, view: ClientView) -> bool:
    if view.cds_in_flight:
        return False
    return all(cluster_ready(c, target, view) for c in target.of_type(naming.CLUSTER_TYPE).values())


def routes_applied(target: ProxyConfig, view: ClientView) -> bool:
    """The proxy ACKed exactly the target's listeners and the target routes they refer to."""
    if view.routes_in_flight:
        return False
    if _versions(view.lds_acked) != _versions(target.of_type(naming.LISTENER_TYPE)):
        return False
    routes = target.of_type(naming.ROUTE_TYPE)
    wanted = {n for lis in target.of_type(naming.LISTENER_TYPE).values() for n in route_names(lis)}
    return all(
        (got := view.rds_acked.get(name)) is not None and got.version == routes[name].version
        for name in wanted
        if name in routes
    )


def plan(
    target: ProxyConfig,
    active: ProxyConfig | None,
    view: ClientView,
    *,
    final: bool,
    offered: Mapping[str, Resources] | None = None,
) -> Plan:
    """What to offer now. ``offered``: the previous plan's kept types, so that a cluster kept
    from a superseded target still gets its endpoints (Envoy holds the CDS ACK until every
    warming cluster has them)."""
    sent = {
        naming.CLUSTER_TYPE: view.cds_sent,
        naming.ENDPOINT_TYPE: view.eds_sent,
        naming.SECRET_TYPE: view.sds_sent,
    }
    earlier = offered or {}
    result: dict[str, Resources | None] = {}
    for type_url in {*target.resources, *KEPT_TYPES, *GATED_TYPES}:
        wanted = target.of_type(type_url)
        if type_url in GATED_TYPES:
            result[type_url] = None if active is None else active.of_type(type_url)
        elif type_url in sent and not final:
            result[type_url] = {**earlier.get(type_url, {}), **sent[type_url], **wanted}
        else:
            result[type_url] = wanted
    return result


def _versions(resources: Resources) -> dict[str, str]:
    return {name: r.version for name, r in resources.items()}
