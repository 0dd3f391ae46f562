"""Shared response numbering: equal responses share nonce and bytes; decisions do not change."""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from mainsail.ads.numbering import OwnNumbers, SharedNumbers
from mainsail.ads.session import Mode, Session
from tests.ads.test_session_oracle import CDS, LDS, SEEDS, Lockstep, random_mesh


def test_own_numbers_count_up() -> None:
    numbers = OwnNumbers()
    assert [numbers.after(n, "same") for n in range(3)] == [1, 2, 3]


def test_shared_numbers_reuse_a_number_only_above_the_last() -> None:
    numbers = SharedNumbers()
    first = numbers.after(0, "table-v1")
    assert numbers.after(0, "table-v1") == first  # another session, same content
    assert numbers.after(first, "table-v1") > first  # the same session again: a new number
    other = numbers.after(0, "table-v2")
    assert other not in (first,) and other > first
    late = numbers.after(other + 5, "table-v1")  # a session already past it
    assert late > other + 5
    assert numbers.after(0, "table-v1") == late


def _sessions(mode: Mode, count: int) -> list[Session]:
    numbers = SharedNumbers()
    sessions = [Session(mode) for _ in range(count)]
    for session in sessions:
        session.numbering = numbers
    return sessions


@pytest.mark.parametrize("mode", list(Mode))
def test_proxies_sent_the_same_response_share_its_bytes(mode: Mode) -> None:
    config = random_mesh(random.Random(3))
    sessions = _sessions(mode, 3)
    first = [_clusters(s, config, 1) for s in sessions]
    assert first[0]
    # One object (one bytes) for all three proxies.
    assert all(f is first[0] for f in first)
    # Other content, another response (and number).
    other = _clusters(Session(mode), random_mesh(random.Random(4)), 1)
    assert other is not first[0] and other.nonce == "1"  # its own numbering
    shared_other = _sessions(mode, 1)[0]
    shared_other.numbering = sessions[0].numbering
    assert int(_clusters(shared_other, random_mesh(random.Random(4)), 1).nonce) > 1


def _clusters(session: Session, config: Any, generation: int) -> Any:
    """The cluster response a new subscription (wildcard, nothing ACKed) gets."""
    cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    session.set_target(config, generation, 0.0)
    request: Any = (
        discovery_pb2.DeltaDiscoveryRequest(type_url=cds)
        if mode_of(session) is Mode.DELTA
        else discovery_pb2.DiscoveryRequest(type_url=cds)
    )
    (response,) = (r for r in session.receive(request, 0.0) if r.type_url == cds)
    return response


def mode_of(session: Session) -> Mode:
    return session.mode


class SharedLockstep(Lockstep):
    """The oracle lockstep with the real session numbered by a numbering it shares with a
    neighbour session that is pushed the same configs: its nonces jump and are sometimes
    another session's. Responses and states must agree with the reference but for nonces."""

    def __init__(self, mode: Mode, rng: random.Random, *, nacks: bool) -> None:
        super().__init__(mode, rng, nacks=nacks)
        self.numbers = SharedNumbers()
        self.neighbour = Session(mode)
        self.neighbour.numbering = self.numbers
        self.real.numbering = _Busy(self.numbers, rng)
        self.nonces: dict[str, str] = {}  # the real session's nonce -> the reference's

    def both(self, real: list[Any], oracle: list[Any], what: str) -> None:
        assert len(real) == len(oracle), (what, real, oracle)
        for a, b in zip(real, oracle, strict=True):
            self.nonces[a.nonce] = b.nonce
            assert _without_nonce(a) == _without_nonce(b), what
        self.to_client.extend(real)
        real_types, oracle_types = self.real.types(), self.oracle.types()
        assert self.real.in_sync() == self.oracle.in_sync(), what
        for r, o in zip(real_types, oracle_types, strict=True):
            assert (r.exchange, r.error, r.sent_version, r.acked_version) == (
                o.exchange,
                o.error,
                o.sent_version,
                o.acked_version,
            ), (what, r.type_url)
            assert self.nonces.get(r.sent_nonce, "") == o.sent_nonce, (what, r.type_url)
            assert self.real.type_in_sync(r) == self.oracle.type_in_sync(o), what

    def push(self, config: Any, generation: int) -> None:
        self.neighbour.set_target(config, generation, self.now)
        if generation == 1:  # it subscribes (and never ACKs): every push sends it something
            for type_url in (CDS, LDS):
                request: Any = (
                    discovery_pb2.DeltaDiscoveryRequest(type_url=type_url)
                    if self.mode is Mode.DELTA
                    else discovery_pb2.DiscoveryRequest(type_url=type_url)
                )
                self.neighbour.receive(request, self.now)
        super().push(config, generation)

    def request(self, request: Any) -> None:
        self.now += 0.001
        translated = type(request)()
        translated.CopyFrom(request)
        translated.response_nonce = self.nonces.get(request.response_nonce, "")
        self.both(
            self.real.receive(request, self.now),
            self.oracle.receive(translated, self.now),
            f"request {request.type_url} nonce {request.response_nonce!r}",
        )


class _Busy:
    """Shared numbers while other sessions send other content in between (numbers jump)."""

    def __init__(self, numbers: SharedNumbers, rng: random.Random) -> None:
        self.numbers, self.rng = numbers, rng

    def after(self, last: int, content: Hashable) -> int:
        for _ in range(self.rng.randint(0, 2)):
            self.numbers.after(0, ("another proxy's", self.rng.random()))
        return self.numbers.after(last, content)


def _without_nonce(response: Any) -> bytes:
    parsed = getattr(response, "message", response)  # the reference sends plain messages
    message = type(parsed)()
    message.CopyFrom(parsed)
    message.nonce = ""
    return bytes(message.SerializeToString(deterministic=True))


@pytest.mark.parametrize("seed", range(SEEDS // 2))
@pytest.mark.parametrize("mode", list(Mode))
def test_shared_numbering_decides_as_the_straightforward_session(mode: Mode, seed: int) -> None:
    rng = random.Random(1000 + seed)
    wire = SharedLockstep(mode, rng, nacks=seed % 2 == 0)
    config = random_mesh(rng)
    wire.push(config, 1)
    wire.to_server.extend(wire.client.start())
    wire.run()
    for generation in range(2, 40):
        if rng.random() < 0.7:
            config = random_mesh(rng)
        wire.push(config, generation)
        for _ in range(rng.randint(0, 15)):
            wire.step()
    wire.run()
    assert wire.real.target is not None
    # The numbers did jump (the neighbour took some): the nonces were not the reference's.
    assert any(mine != theirs for mine, theirs in wire.nonces.items())
