"""One xDS stream as a sans-IO state machine (state of the world or delta).

The session is fed requests (``receive``) and new target configs (``set_target``) and returns
the responses to send; it never does I/O and never reads a clock (callers pass ``now``). Both
paths end in ``_flush``, which brings the staging plan up to date (``staging.Offer`` per type,
``staging.ClusterReadiness``) and calls the one response builder, ``_respond``, for every type
in ``naming.PUSH_ORDER``. The per-type exchange (send, ACK, NACK) follows the transition table
of ``exchange``.

Per type it tracks the subscription (wildcard and/or names), the responses in flight by nonce,
what the client holds once those are applied (``sent``) and what it confirmed (``acked``).
Stale nonces are ignored; a NACK (``error_detail``) resynchronises ``sent`` to ``acked`` and the
rejected content is not offered again until the plan changes or a new push arrives.

Cost: a proxy holds thousands of resources and a push changes a few, so nothing here walks a
whole type on a push or an ACK. A new target is compared with the previous one once (by
identity, then version) and every later step looks only at the names that changed: the offer,
the response decision (``TypeState.touched``/``pending``), the sync check
(``TypeState.out_of_sync``) and cluster readiness. Only what is inherently whole is whole: a
SotW response, the first response of a type, a wildcard switch.

Over 500 lines because the transitions and the bookkeeping they keep must change together; the
per-type state is in ``type_state``, the plan's rules in ``staging``, the wire in ``encoding``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Final, TypeAlias

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from mainsail import monitoring, naming
from mainsail.ads import encoding, staging
from mainsail.ads.errors import ProtocolViolation
from mainsail.ads.exchange import Event, Exchange, step
from mainsail.ads.numbering import OwnNumbers, ResponseNumbers
from mainsail.ads.type_state import InFlight, TypeState, same
from mainsail.xds.layered import changed_names
from mainsail.xds.resources import ProxyConfig, XdsResource, set_version

WILDCARD_TYPES: Final = frozenset({naming.CLUSTER_TYPE, naming.LISTENER_TYPE})
_ORDER: Final = {t: i for i, t in enumerate(naming.PUSH_ORDER)}

# Protobuf messages are untyped for mypy: discovery_pb2.(Delta)DiscoveryRequest / Response.
Request: TypeAlias = Any
Response: TypeAlias = Any


class Mode(Enum):
    SOTW = "SotW"
    DELTA = "delta"


def content_version(resources: Mapping[str, XdsResource]) -> str:
    """The version of a set of resources: the same hash as ``ProxyConfig.version``."""
    return set_version(resources.values())


class Session:
    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.generation = -1
        self.target: ProxyConfig | None = None
        self.active: ProxyConfig | None = None
        self._types: dict[str, TypeState] = {}
        self._offers: dict[str, staging.Offer] = {}
        # Per type: names of the target changed since its offer was last updated.
        self._wanted_changed: dict[str, set[str]] = {}
        self._readiness = staging.ClusterReadiness()
        # Clusters in CDS ``sent`` whose EDS service is not their own name, by service, and
        # the services whose endpoints may need re-sending because their cluster changed.
        self._sent_aliased: dict[str, set[str]] = {}
        self._force_check: set[str] = set()
        self._forced: set[str] = set()
        self._seq = 0
        # Where response numbers (nonces) come from: its own counter, or the server's
        # numbering shared by its sessions (``numbering``), set before the first request.
        self.numbering: ResponseNumbers = OwnNumbers()

    # --- inputs

    def set_target(self, config: ProxyConfig, generation: int, now: float) -> list[Response]:
        old, self.target = self.target, config
        self.generation = generation
        if old is None:
            for state in self._types.values():
                state.resync(config.of_type(state.type_url))
        if old is not config:
            changed: dict[str, set[str]] = {}
            for type_url in {*config.resources, *(old.resources if old else ())}:
                names = changed_names(
                    old.of_type(type_url) if old else {}, config.of_type(type_url)
                )
                if names:
                    changed[type_url] = names
                    self._wanted_changed.setdefault(type_url, set()).update(names)
                    known = self._types.get(type_url)
                    if known is not None:
                        wanted = config.of_type(type_url)
                        for name in names:
                            known.note_sync(name, wanted.get(name))
            self._readiness.target_changed(
                config,
                changed.get(naming.CLUSTER_TYPE, ()),
                changed.get(naming.ENDPOINT_TYPE, ()),
            )
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
        return tuple(
            sorted(self._types.values(), key=lambda s: (_ORDER.get(s.type_url, 99), s.type_url))
        )

    def type_in_sync(self, state: TypeState) -> bool:
        # A NACK is not sticky: once the wanted config is again what the client last ACKed
        # (the bad change was withdrawn), the client is in sync.
        if self.target is None or state.in_flight:
            return False
        if not state.requested:
            return not (self.target.of_type(state.type_url) and state.type_url in WILDCARD_TYPES)
        return not state.out_of_sync

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
        wildcard = request.type_url in WILDCARD_TYPES and (not names or "*" in names)
        names.discard("*")
        changed = names ^ state.names
        self._rescope(state, wildcard, changed)
        state.names = names
        self._note_sync(state, changed)
        if not state.requested:
            state.requested = state.must_respond = True

    def _receive_delta(
        self, state: TypeState, request: discovery_pb2.DeltaDiscoveryRequest
    ) -> None:
        subscribe = set(request.resource_names_subscribe)
        unsubscribe = set(request.resource_names_unsubscribe)
        wildcard = state.wildcard
        if not state.requested:
            state.requested = state.must_respond = True
            wildcard = request.type_url in WILDCARD_TYPES and not subscribe
        if "*" in subscribe:
            wildcard = True
        if "*" in unsubscribe:
            wildcard = False
        subscribe.discard("*")
        unsubscribe.discard("*")
        self._rescope(state, wildcard, subscribe | unsubscribe)
        for name in subscribe:
            state.names.add(name)
            if name in state.sent:
                self._hold(state, name, None)  # (re)subscribed: send it even if it is there
                state.drift.add(name)
        for name in unsubscribe:
            state.names.discard(name)
            self._hold(state, name, None)
            self._confirm(state, name, None)
            state.drift.add(name)  # a response in flight may still carry it: not held after
        for name, version in request.initial_resource_versions.items():
            placeholder = XdsResource(name=name, version=version, body=any_pb2.Any())
            self._hold(state, name, placeholder)
            self._confirm(state, name, placeholder)
            self._set_acked_seq(state, name, 0)
            self._set_carried_seq(state, name, 0)
        self._note_sync(state, subscribe | unsubscribe)
        nonce = request.response_nonce
        if nonce in state.in_flight:
            self._settle(
                state,
                nonce,
                request.error_detail.message if request.HasField("error_detail") else None,
            )

    def _rescope(self, state: TypeState, wildcard: bool, names: set[str]) -> None:
        """The subscription changes: to ``wildcard``, and for ``names``."""
        if wildcard != state.wildcard:
            state.wildcard = wildcard
            state.rescan = True
        state.touched.update(names)

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
            return
        # The client rejected the whole response: it holds what it last ACKed.
        state.error = error
        monitoring.XDS_REJECTS.inc(type=monitoring.xds_type(state.type_url))
        state.rejected_plan = flight.plan_version
        reverted = set(flight.touches) | state.drift
        for later in state.in_flight.values():
            reverted.update(later.touches)
        state.in_flight.clear()
        state.drift.clear()
        for name in reverted:
            self._hold(state, name, state.acked.get(name))
            self._set_carried_seq(state, name, state.acked_seq.get(name))

    def _accept(self, state: TypeState, flight: InFlight) -> None:
        for name, resource in flight.changes.items():
            if resource is None or state.in_scope(name):  # Envoy ignores what it unsubscribed
                self._confirm(state, name, resource)
        for name in flight.carried:
            self._set_acked_seq(state, name, flight.seq)
        state.acked_version = flight.version

    # --- what the client holds (every change goes through these, for the bookkeeping)

    def _hold(self, state: TypeState, name: str, resource: XdsResource | None) -> None:
        old = state.sent.put(name, resource)
        if old is resource:
            return
        state.touched.add(name)
        if state.type_url == naming.CLUSTER_TYPE:
            for cluster, add in ((old, False), (resource, True)):
                service = None if cluster is None else staging.eds_service_name(cluster)
                if service is None:
                    continue
                if service != name:
                    aliased = self._sent_aliased.setdefault(service, set())
                    if add:
                        aliased.add(name)
                    else:
                        aliased.discard(name)
                self._force_check.add(service)

    def _confirm(self, state: TypeState, name: str, resource: XdsResource | None) -> None:
        if state.acked.put(name, resource) is resource:
            return
        if self.target is not None:
            state.note_sync(name, self.target.of_type(state.type_url).get(name))
        if state.type_url == naming.CLUSTER_TYPE:
            self._readiness.recheck.add(name)
        elif state.type_url == naming.ENDPOINT_TYPE:
            self._readiness.endpoints_changed(name)

    def _set_acked_seq(self, state: TypeState, name: str, seq: int) -> None:
        if state.acked_seq.get(name) != seq:
            state.acked_seq[name] = seq
            if state.type_url == naming.ENDPOINT_TYPE:
                self._readiness.endpoints_changed(name)

    def _set_carried_seq(self, state: TypeState, name: str, seq: int | None) -> None:
        if seq is None:
            state.carried_seq.pop(name, None)
        else:
            state.carried_seq[name] = seq
        if state.type_url == naming.ENDPOINT_TYPE:
            self._force_check.add(name)

    def _note_sync(self, state: TypeState, names: Iterable[str]) -> None:
        if self.target is None:
            return
        wanted = self.target.of_type(state.type_url)
        if state.rescan:
            state.resync(wanted)
            return
        for name in names:
            state.note_sync(name, wanted.get(name))

    # --- responses

    def _flush(self, now: float) -> list[Response]:
        target = self.target
        if target is None:
            return []
        types = self._types
        for state in types.values():
            if state.rescan:
                state.resync(target.of_type(state.type_url))
        cds = types.get(naming.CLUSTER_TYPE) or TypeState(naming.CLUSTER_TYPE)
        eds = types.get(naming.ENDPOINT_TYPE) or TypeState(naming.ENDPOINT_TYPE)
        if (
            self.active is not target
            and not cds.in_flight
            and self._readiness.ready(
                target,
                cds_acked=cds.acked,
                cds_changed_seq=cds.changed_seq,
                eds_acked=eds.acked,
                eds_acked_seq=eds.acked_seq,
            )
        ):
            self._activate(target)
        final = self.active is target and self._routes_applied(target)
        self._update_offers(target, final)
        out: list[Response] = []
        for type_url in _ordered({*self._offers, *types}):
            requested = types.get(type_url)
            if requested is not None:
                response = self._respond(requested, self._offers.get(type_url), now)
                if response is not None:
                    out.append(response)
        for state in types.values():
            if self.type_in_sync(state) and self.active is target:
                state.unsettled_since = None
            elif state.unsettled_since is None:
                state.unsettled_since = now
        return out

    def _activate(self, target: ProxyConfig) -> None:
        """The target's clusters are ready: its listeners and routes may be offered."""
        old, self.active = self.active, target
        for type_url in staging.GATED_TYPES:
            if old is not None:
                names = changed_names(old.of_type(type_url), target.of_type(type_url))
                self._wanted_changed.setdefault(type_url, set()).update(names)

    def _routes_applied(self, target: ProxyConfig) -> bool:
        lds, rds = self._types.get(naming.LISTENER_TYPE), self._types.get(naming.ROUTE_TYPE)
        if (lds is not None and lds.in_flight) or (rds is not None and rds.in_flight):
            return False
        return staging.routes_applied(
            target,
            lds.acked if lds is not None else {},
            rds.acked if rds is not None else {},
        )

    def _update_offers(self, target: ProxyConfig, final: bool) -> None:
        """Bring each type's ``Offer`` to (target, active, final), name by name."""
        for type_url in {*target.resources, *staging.KEPT_TYPES, *staging.GATED_TYPES}:
            offer = self._offers.get(type_url)
            if offer is None:
                offer = self._offers[type_url] = staging.Offer()
                if type_url in staging.GATED_TYPES:
                    offer.held = True
            state = self._types.get(type_url)
            if type_url in staging.GATED_TYPES:
                if self.active is None:
                    continue
                base = self.active.of_type(type_url)
                if offer.held:
                    # First offer of this type: every name is new (the decision rescans).
                    offer.held = False
                    offer.base = base
                    self._wanted_changed.pop(type_url, None)
                    if state is not None:
                        state.rescan = True
                    continue
            else:
                base = target.of_type(type_url)
            keeping = type_url in staging.KEPT_TYPES and not final
            changed = self._wanted_changed.pop(type_url, set())
            sent: Mapping[str, XdsResource] = {}
            if state is not None:
                sent = state.sent
                changed |= state.touched
                if keeping and not offer.keeping:
                    changed |= state.pending  # what the client holds beyond the last offer
                if keeping and state.rescan:
                    changed.update(state.sent)
            touched = offer.update(base, keeping=keeping, changed=changed, sent=sent)
            if state is not None:
                state.touched |= touched

    def _respond(
        self, state: TypeState, offer: staging.Offer | None, now: float
    ) -> Response | None:
        """The one response builder: what ``state``'s client should get of ``offer`` now."""
        if not state.requested or (offer is not None and offer.held):
            return None
        if offer is None:
            offer = staging.Offer()  # a type nothing is planned for: it gets nothing
        if state.rescan:
            candidates = {*state.sent, *(offer.names() if state.wildcard else state.names)}
        else:
            candidates = state.touched | state.pending
        state.touched, state.rescan = set(), False
        if state.rejected_plan is not None and self._plan_version(state, offer) == (
            state.rejected_plan
        ):
            state.pending = candidates
            return None
        force = self._forced_endpoints(state, offer)
        differing = [
            n for n in candidates if not same(self._scoped(state, offer, n), state.sent.get(n))
        ]
        if self.mode is Mode.SOTW:
            if not (state.must_respond or force or differing):
                state.pending = set()
                return None
            scope = {
                n: r for n in self._scope_names(state, offer) if (r := offer.get(n)) is not None
            }
            carried = frozenset(scope)
            changes: dict[str, XdsResource | None] = {
                n: scope.get(n)
                for n in {*scope, *state.sent}
                if state.sent.get(n) is not scope.get(n)
            }
        else:
            carried = frozenset(
                n
                for n in (*differing, *force)
                if (r := self._scoped(state, offer, n)) is not None and r.body.type_url
            )
            removed = sorted(
                n
                for n in differing
                if n in state.sent and state.in_scope(n) and offer.get(n) is None
            )
            if not (carried or removed or state.must_respond):
                state.pending = set()
                return None
            changes = {n: offer.get(n) for n in carried}
            changes.update((n, None) for n in removed)
        state.pending = set()
        for name in state.drift:
            changes.setdefault(name, state.sent.get(name))
        state.drift.clear()
        return self._send(state, offer, carried, changes, now)

    def _send(
        self,
        state: TypeState,
        offer: staging.Offer,
        carried: frozenset[str],
        changes: Mapping[str, XdsResource | None],
        now: float,
    ) -> Response:
        plan_version = self._plan_version(state, offer)
        removed = sorted(n for n, r in changes.items() if r is None and n in state.sent)
        version_changed: list[str] = []
        for name in carried:
            old, new = state.sent.get(name), offer.get(name)
            if old is None or new is None or old.version != new.version:
                version_changed.append(name)
                if state.type_url == naming.CLUSTER_TYPE:
                    self._readiness.recheck.add(name)
                    if new is not None and (service := staging.eds_service_name(new)):
                        self._force_check.add(service)
        for name, resource in changes.items():
            self._hold(state, name, resource)
        state.touched.difference_update(changes)  # sent now matches the offer for them
        version = state.sent.version
        resources = [state.sent[n] for n in sorted(carried)]
        # The number comes from the content, so that sessions sending the same response
        # share its nonce and bytes (``numbering``); it is known only once the content is.
        content = encoding.response_content(
            delta=self.mode is Mode.DELTA,
            version=version,
            type_url=state.type_url,
            resources=resources,
            removed=removed,
        )
        self._seq = seq = self.numbering.after(self._seq, content)
        nonce = str(seq)
        for name in version_changed:
            state.changed_seq[name] = seq
        for name in carried:
            self._set_carried_seq(state, name, seq)
        response = encoding.shared_response(
            content,
            nonce,
            lambda: self._message(state.type_url, version, nonce, resources, removed),
        )
        touches = frozenset({*changes, *carried})
        if self.mode is Mode.SOTW:
            # Earlier responses are superseded (their ACKs are stale): this one's ACK also
            # confirms what they changed.
            folded: dict[str, XdsResource | None] = {}
            for earlier in state.in_flight.values():
                folded.update(earlier.changes)
                touches |= earlier.touches
            folded.update(changes)
            changes = folded
            state.in_flight.clear()
        state.in_flight[nonce] = InFlight(
            nonce, seq, version, changes, carried, touches, plan_version, now
        )
        state.sent_version, state.sent_nonce = version, nonce
        state.must_respond = False
        state.exchange = step(state.exchange, Event.SEND) or Exchange.WAITING
        return response

    def _scoped(self, state: TypeState, offer: staging.Offer, name: str) -> XdsResource | None:
        return offer.get(name) if state.in_scope(name) else None

    def _scope_names(self, state: TypeState, offer: staging.Offer) -> Iterable[str]:
        return offer.names() if state.wildcard else sorted(state.names)

    def _plan_version(self, state: TypeState, offer: staging.Offer) -> str:
        """The version of what is offered within the subscription (a NACK rejects it)."""
        return set_version(
            r for n in self._scope_names(state, offer) if (r := offer.get(n)) is not None
        )

    def _forced_endpoints(self, state: TypeState, offer: staging.Offer) -> set[str]:
        """Endpoints (in scope) whose cluster changed since they were last sent.

        Envoy warms an updated EDS cluster afresh but (in delta) does not re-subscribe to its
        endpoints, so without this the cluster waits for ``initial_fetch_timeout``.
        """
        if state.type_url != naming.ENDPOINT_TYPE:
            return set()
        clusters = self._types.get(naming.CLUSTER_TYPE)
        if clusters is None:
            self._force_check.clear()
            return set()
        for service in self._force_check:
            carried = state.carried_seq.get(service, -1)
            if any(
                clusters.changed_seq.get(c, -1) > carried
                and (cluster := clusters.sent.get(c)) is not None
                and staging.eds_service_name(cluster) == service
                for c in (service, *self._sent_aliased.get(service, ()))
            ):
                self._forced.add(service)
            else:
                self._forced.discard(service)
        self._force_check.clear()
        return {s for s in self._forced if self._scoped(state, offer, s) is not None}

    def _message(
        self,
        type_url: str,
        version: str,
        nonce: str,
        resources: Iterable[XdsResource],
        removed: Iterable[str],
    ) -> Response:
        if self.mode is Mode.SOTW:
            return encoding.sotw_response(
                version=version, type_url=type_url, nonce=nonce, resources=resources
            )
        return encoding.delta_response(
            version=version, type_url=type_url, nonce=nonce, resources=resources, removed=removed
        )

    def _type(self, type_url: str) -> TypeState:
        state = self._types.get(type_url)
        if state is None:
            state = self._types[type_url] = TypeState(type_url)
        return state


def _ordered(type_urls: Iterable[str]) -> list[str]:
    return sorted(type_urls, key=lambda t: (_ORDER.get(t, len(_ORDER)), t))
