"""The straightforward xDS session the incremental one in ``mainsail.ads.session`` replaced.

It re-walks every resource of a proxy on each push and ACK (the cost ``benchmarks/translation_cost.py
push`` measured), which makes it easy to read: it is kept as the oracle ``test_session_oracle``
checks the incremental session against (same responses, same sync states, same staging).
Parsing helpers (``eds_service_name``, ``route_names``) are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.ads.errors import ProtocolViolation
from mainsail.ads.exchange import Event, Exchange, step
from mainsail.ads.session import Mode
from mainsail.ads.staging import eds_service_name, route_names
from mainsail.xds.resources import ProxyConfig, XdsResource, set_version

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


def make_plan(
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


WILDCARD_TYPES: Final = frozenset({naming.CLUSTER_TYPE, naming.LISTENER_TYPE})

# Protobuf messages are untyped for mypy: discovery_pb2.(Delta)DiscoveryRequest / Response.
Request: TypeAlias = Any
Response: TypeAlias = Any


def content_version(resources: Mapping[str, XdsResource]) -> str:
    """The version of a set of resources: the same hash as ``ProxyConfig.version``."""
    return set_version(resources.values())


@dataclass(frozen=True, slots=True)
class InFlight:
    nonce: str
    seq: int
    version: str
    view: Mapping[str, XdsResource]  # the client's whole view of the type once applied
    carried: frozenset[str]
    plan_version: str
    sent_at: float


@dataclass(slots=True)
class TypeState:
    type_url: str
    requested: bool = False
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    exchange: Exchange = Exchange.IDLE
    sent: dict[str, XdsResource] = field(default_factory=dict)
    acked: dict[str, XdsResource] = field(default_factory=dict)
    acked_seq: dict[str, int] = field(default_factory=dict)
    changed_seq: dict[str, int] = field(default_factory=dict)
    carried_seq: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    sent_version: str = ""
    sent_nonce: str = ""
    acked_version: str = ""
    error: str = ""
    rejected_plan: str | None = None
    must_respond: bool = False
    unsettled_since: float | None = None

    def in_scope(self, name: str) -> bool:
        return self.wildcard or name in self.names

    def scope(self, resources: Mapping[str, XdsResource]) -> dict[str, XdsResource]:
        if self.wildcard:
            return dict(resources)
        return {n: resources[n] for n in sorted(self.names) if n in resources}


class Session:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.generation = -1
        self.target: ProxyConfig | None = None
        self.active: ProxyConfig | None = None
        self._types: dict[str, TypeState] = {}
        self._offered: dict[str, Mapping[str, XdsResource]] = {}
        self._seq = 0

    # --- inputs

    def set_target(self, config: ProxyConfig, generation: int, now: float) -> list[Response]:
        self.target = config
        self.generation = generation
        for state in self._types.values():
            state.rejected_plan = None  # a new push offers again what was rejected before
        return self._flush(now)

    def receive(self, request: Request, now: float) -> list[Response]:
        if not request.type_url:
            raise ProtocolViolation("request without type_url")
        state = self._type(request.type_url)
        if isinstance(request, discovery_pb2.DeltaDiscoveryRequest):
            self._receive_delta(state, request)
        else:
            self._receive_sotw(state, request)
        return self._flush(now)

    # --- queries

    def types(self) -> tuple[TypeState, ...]:
        order = {t: i for i, t in enumerate(naming.PUSH_ORDER)}
        return tuple(
            sorted(self._types.values(), key=lambda s: (order.get(s.type_url, 99), s.type_url))
        )

    def type_in_sync(self, state: TypeState) -> bool:
        # A NACK is not sticky: once the wanted config is again what the client last ACKed
        # (the bad change was withdrawn), the client is in sync.
        if self.target is None or state.in_flight:
            return False
        wanted = self.target.of_type(state.type_url)
        if not state.requested:
            return not (wanted and state.type_url in WILDCARD_TYPES)
        # Same as comparing {name: version} of the ACKed and wanted scopes, without building
        # them: resources are shared objects, so identity settles most entries.
        acked = state.acked
        names: Iterable[str] = wanted if state.wildcard else state.names
        wanted_count = 0
        for name in names:
            resource = wanted.get(name)
            if resource is None:
                continue
            wanted_count += 1
            have = acked.get(name)
            if have is None or (have is not resource and have.version != resource.version):
                return False
        held = len(acked) if state.wildcard else sum(1 for n in acked if n in state.names)
        return held == wanted_count

    def in_sync(self) -> bool:
        """The client ACKed the whole target (all stages done) and nothing is in flight."""
        if self.target is None or self.active is not self.target:
            return False
        types = {*self.target.resources, *self._types}
        return all(self.type_in_sync(self._types.get(t) or TypeState(t)) for t in types)

    # --- request handling

    def _receive_sotw(self, state: TypeState, request: discovery_pb2.DiscoveryRequest) -> None:
        nonce = request.response_nonce
        if nonce and state.in_flight and nonce != state.sent_nonce:
            return  # stale: a newer response is on its way, its ACK will follow
        if nonce and nonce in state.in_flight:
            self._settle(
                state,
                nonce,
                request.error_detail.message if request.HasField("error_detail") else None,
            )
        names = set(request.resource_names)
        state.wildcard = request.type_url in WILDCARD_TYPES and (not names or "*" in names)
        state.names = names - {"*"}
        if not state.requested:
            state.requested = state.must_respond = True

    def _receive_delta(
        self, state: TypeState, request: discovery_pb2.DeltaDiscoveryRequest
    ) -> None:
        subscribe = set(request.resource_names_subscribe)
        unsubscribe = set(request.resource_names_unsubscribe)
        if not state.requested:
            state.requested = state.must_respond = True
            state.wildcard = request.type_url in WILDCARD_TYPES and not subscribe
        if "*" in subscribe:
            state.wildcard = True
        if "*" in unsubscribe:
            state.wildcard = False
        for name in subscribe - {"*"}:
            state.names.add(name)
            state.sent.pop(name, None)  # (re)subscribed: send it even if we think it is there
        for name in unsubscribe - {"*"}:
            state.names.discard(name)
            for view in (state.sent, state.acked):
                view.pop(name, None)
        for name, version in request.initial_resource_versions.items():
            placeholder = XdsResource(name=name, version=version, body=any_pb2.Any())
            state.sent[name] = state.acked[name] = placeholder
            state.acked_seq[name] = state.carried_seq[name] = 0
        nonce = request.response_nonce
        if nonce in state.in_flight:
            self._settle(
                state,
                nonce,
                request.error_detail.message if request.HasField("error_detail") else None,
            )

    def _settle(self, state: TypeState, nonce: str, error: str | None) -> None:
        """ACK (error None) or NACK of the response ``nonce``, which is in flight.

        Responses sent before it were applied first (the stream is ordered); Envoy may never
        ACK them one by one (it holds the CDS ACK while clusters warm and then ACKs the newest).
        """
        flight = state.in_flight.pop(nonce)
        for earlier in [f for f in state.in_flight.values() if f.seq < flight.seq]:
            del state.in_flight[earlier.nonce]
            self._accept(state, earlier)
        if error is None:
            event = Event.ACK if not state.in_flight else Event.ACK_EARLIER
        else:
            event = Event.NACK
        nxt = step(state.exchange, event)
        if nxt is None:
            return
        state.exchange = nxt
        if error is None:
            self._accept(state, flight)
            state.rejected_plan = None
            state.error = ""
        else:
            # The client rejected the whole response: it holds what it last ACKed.
            state.error = error
            state.rejected_plan = flight.plan_version
            state.in_flight.clear()
            state.sent = dict(state.acked)
            state.carried_seq = dict(state.acked_seq)

    @staticmethod
    def _accept(state: TypeState, flight: InFlight) -> None:
        # The one deliberate change: names unsubscribed since the response was sent are not
        # taken as held (Envoy drops them); the old session did, which only showed in the
        # informational ``system_version_info``.
        state.acked = {n: r for n, r in flight.view.items() if state.in_scope(n)}
        for name in flight.carried:
            state.acked_seq[name] = flight.seq
        state.acked_version = flight.version

    # --- responses

    def _flush(self, now: float) -> list[Response]:
        if self.target is None:
            return []
        view = self._client_view()
        if self.active is not self.target and clusters_ready(self.target, view):
            self.active = self.target
        final = self.active is self.target and routes_applied(self.target, view)
        plan = make_plan(self.target, self.active, view, final=final, offered=self._offered)
        self._offered = {t: r for t in KEPT_TYPES if (r := plan.get(t)) is not None}
        out: list[Response] = []
        for type_url in _ordered({*plan, *self._types}):
            state = self._types.get(type_url)
            if state is not None:
                response = self._respond(state, plan.get(type_url, {}), now)
                if response is not None:
                    out.append(response)
        for state in self._types.values():
            if self.type_in_sync(state) and self.active is self.target:
                state.unsettled_since = None
            elif state.unsettled_since is None:
                state.unsettled_since = now
        return out

    def _respond(
        self, state: TypeState, resources: Mapping[str, XdsResource] | None, now: float
    ) -> Response | None:
        """The one response builder: what ``state``'s client should get of ``resources`` now."""
        if not state.requested or resources is None:
            return None
        scope = state.scope(resources)
        plan_version = content_version(scope)
        if plan_version == state.rejected_plan:
            return None
        force = self._endpoints_to_resend(state, scope)
        if self.mode is Mode.SOTW:
            if not (state.must_respond or force or plan_version != content_version(state.sent)):
                return None
            carried, view = frozenset(scope), scope
        else:
            carried = frozenset(
                n
                for n, r in scope.items()
                if r.body.type_url  # not a placeholder from initial_resource_versions
                and (
                    n in force
                    or (old := state.sent.get(n)) is None
                    or (old is not r and old.version != r.version)
                )
            )
            removed = sorted(n for n in state.sent if n not in scope and state.in_scope(n))
            if not (carried or removed or state.must_respond):
                return None
            view = {n: r for n, r in state.sent.items() if n not in removed} | {
                n: scope[n] for n in carried
            }
        self._seq += 1
        seq, nonce = self._seq, str(self._seq)
        version = content_version(view)
        response = self._message(state.type_url, version, nonce, [view[n] for n in sorted(carried)])
        if isinstance(response, discovery_pb2.DeltaDiscoveryResponse):
            response.removed_resources.extend(removed)
        for name in carried:
            old = state.sent.get(name)
            if old is None or old.version != view[name].version:
                state.changed_seq[name] = seq
            state.carried_seq[name] = seq
        flight = InFlight(nonce, seq, version, view, carried, plan_version, now)
        if self.mode is Mode.SOTW:
            state.in_flight.clear()  # earlier responses are superseded; their ACKs are stale
        state.in_flight[nonce] = flight
        state.sent = dict(view)
        state.sent_version, state.sent_nonce = version, nonce
        state.must_respond = False
        state.exchange = step(state.exchange, Event.SEND) or Exchange.WAITING
        return response

    def _message(
        self, type_url: str, version: str, nonce: str, resources: Iterable[XdsResource]
    ) -> Response:
        if self.mode is Mode.SOTW:
            sotw = discovery_pb2.DiscoveryResponse(
                version_info=version, type_url=type_url, nonce=nonce
            )
            sotw.resources.extend(r.body for r in resources)
            return sotw
        delta = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=version, type_url=type_url, nonce=nonce
        )
        for r in resources:
            delta.resources.add(name=r.name, version=r.version, resource=r.body)
        return delta

    def _endpoints_to_resend(self, state: TypeState, scope: Mapping[str, XdsResource]) -> set[str]:
        """Endpoints whose cluster changed since they were last sent.

        Envoy warms an updated EDS cluster afresh but (in delta) does not re-subscribe to its
        endpoints, so without this the cluster waits for ``initial_fetch_timeout``.
        """
        clusters = self._types.get(naming.CLUSTER_TYPE)
        if state.type_url != naming.ENDPOINT_TYPE or clusters is None:
            return set()
        force: set[str] = set()
        for name, cluster in clusters.sent.items():
            service = eds_service_name(cluster)
            if service is None or service not in scope:
                continue
            if clusters.changed_seq.get(name, -1) > state.carried_seq.get(service, -1):
                force.add(service)
        return force

    def _client_view(self) -> ClientView:
        def get(type_url: str) -> TypeState:
            return self._types.get(type_url) or TypeState(type_url)

        cds, eds = get(naming.CLUSTER_TYPE), get(naming.ENDPOINT_TYPE)
        return ClientView(
            cds_sent=cds.sent,
            cds_acked=cds.acked,
            cds_changed_seq=cds.changed_seq,
            eds_sent=eds.sent,
            eds_acked=eds.acked,
            eds_acked_seq=eds.acked_seq,
            sds_sent=get(naming.SECRET_TYPE).sent,
            lds_acked=get(naming.LISTENER_TYPE).acked,
            rds_acked=get(naming.ROUTE_TYPE).acked,
            cds_in_flight=bool(cds.in_flight),
            routes_in_flight=bool(
                get(naming.LISTENER_TYPE).in_flight or get(naming.ROUTE_TYPE).in_flight
            ),
        )

    def _type(self, type_url: str) -> TypeState:
        state = self._types.get(type_url)
        if state is None:
            state = self._types[type_url] = TypeState(type_url)
        return state


def _ordered(type_urls: Iterable[str]) -> list[str]:
    order = {t: i for i, t in enumerate(naming.PUSH_ORDER)}
    return sorted(type_urls, key=lambda t: (order.get(t, len(order)), t))
