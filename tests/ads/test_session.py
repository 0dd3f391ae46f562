"""The session state machine against a simulated Envoy (no sockets, no clock)."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from mainsail import naming
from mainsail.ads.errors import ProtocolViolation
from mainsail.ads.session import Mode, Session
from mainsail.testing import envoy_config as ec
from mainsail.testing.xds_client import SimulatedEnvoy
from mainsail.xds.resources import ProxyConfig

CDS, EDS, LDS, RDS = (
    naming.CLUSTER_TYPE,
    naming.ENDPOINT_TYPE,
    naming.LISTENER_TYPE,
    naming.ROUTE_TYPE,
)


def mesh(*clusters: str, route_to: str, port: int = 8080, regex: str | None = None) -> ProxyConfig:
    return ec.proxy_config(
        clusters=[ec.eds_cluster(c) for c in clusters],
        endpoints=[ec.endpoints(c, [("127.0.0.1", 9000 + i)]) for i, c in enumerate(clusters)],
        listeners=[ec.http_listener("l", "127.0.0.1", port, "r")],
        routes=[ec.route_to("r", route_to, regex=regex)],
    )


class Wire:
    """Delivers messages in order between a session and a simulated Envoy; logs responses."""

    def __init__(self, mode: Mode, **client: Any) -> None:
        self.session = Session(mode)
        self.client = SimulatedEnvoy(delta=mode is Mode.DELTA, **client)
        self.to_server: deque[Any] = deque()
        self.to_client: deque[Any] = deque()
        self.log: list[Any] = []
        self.now = 0.0

    def connect(self, config: ProxyConfig) -> None:
        self.push(config, 1, run=False)
        self.to_server.extend(self.client.start())
        self.run()

    def push(self, config: ProxyConfig, generation: int, *, run: bool = True) -> None:
        self.to_client.extend(self.session.set_target(config, generation, self.now))
        if run:
            self.run()

    def step(self) -> bool:
        """Deliver one message (server first); False when nothing is in flight."""
        self.now += 0.001
        if self.to_server:
            self.to_client.extend(self.session.receive(self.to_server.popleft(), self.now))
            return True
        if self.to_client:
            response = self.to_client.popleft()
            self.log.append(response)
            self.to_server.extend(self.client.handle(response))
            return True
        return False

    def run(self, limit: int = 500) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("no quiescence")

    def sent_types(self) -> list[str]:
        return [naming.SHORT_TYPE_NAMES[r.type_url] for r in self.log]


@pytest.mark.parametrize("mode", list(Mode))
def test_initial_sync_in_push_order(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(mesh("a", route_to="a"))
    assert wire.session.in_sync()
    assert wire.client.names(CDS) == {"a"} and wire.client.names(RDS) == {"r"}
    assert wire.client.violations == []
    # listeners are offered only after the cluster and its endpoints are ACKed
    types = wire.sent_types()
    assert types.index("LDS") > types.index("EDS")


@pytest.mark.parametrize("mode", list(Mode))
def test_make_before_break_stages(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(mesh("a", route_to="a"))
    wire.log.clear()
    wire.push(mesh("b", route_to="b"), 2)
    assert wire.client.violations == []
    assert wire.session.in_sync()
    cds = [r for r in wire.log if r.type_url == CDS]
    first, last = cds[0], cds[-1]
    if mode is Mode.SOTW:
        assert len(first.resources) == 2  # a kept, b added
        assert len(last.resources) == 1
    else:
        assert [r.name for r in first.resources] == ["b"] and not first.removed_resources
        assert list(last.removed_resources) == ["a"]
    # the route moves only after b's endpoints; a goes only after the route is ACKed
    order = [(r.type_url, r.nonce) for r in wire.log]
    assert order.index((RDS, wire.log[[r.type_url for r in wire.log].index(RDS)].nonce)) > [
        r.type_url for r in wire.log
    ].index(EDS)
    assert wire.client.names(CDS) == {"b"}


@pytest.mark.parametrize("mode", list(Mode))
def test_push_mid_stage_restarts_without_breaking(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(mesh("a", route_to="a"))
    wire.push(mesh("b", route_to="b"), 2, run=False)
    for _ in range(3):  # part of stage (a) only
        wire.step()
    wire.push(mesh("c", route_to="c"), 3, run=False)
    wire.step()
    wire.push(mesh("d", "c", route_to="d"), 4)
    assert wire.client.violations == []
    assert wire.session.in_sync()
    assert wire.client.names(CDS) == {"c", "d"}


def random_mesh(rng: random.Random) -> ProxyConfig:
    names = rng.sample([f"c{i}" for i in range(6)], rng.randint(1, 3))
    return ec.proxy_config(
        clusters=[ec.eds_cluster(c, connect_timeout_ms=rng.choice([1000, 2000])) for c in names],
        endpoints=[ec.endpoints(c, [("127.0.0.1", rng.choice([1, 2]))]) for c in names],
        listeners=[ec.http_listener("l", "127.0.0.1", 8080, rng.choice(["r", "r2"]))],
        routes=[ec.route_to(r, rng.choice(names)) for r in ("r", "r2")],
    )


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("mode", list(Mode))
def test_random_pushes_never_route_to_inactive_cluster(mode: Mode, seed: int) -> None:
    """Pushes land at random points of the exchange (mid-stage); the invariant always holds."""
    rng = random.Random(seed)
    wire = Wire(mode)
    wire.connect(random_mesh(rng))
    for generation in range(2, 40):
        wire.push(random_mesh(rng), generation, run=False)
        for _ in range(rng.randint(0, 12)):
            wire.step()
    wire.run()
    assert wire.client.violations == []
    assert wire.session.in_sync()
    assert wire.client.names(CDS) == set(wire.session.target.of_type(CDS))  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", list(Mode))
def test_nack_keeps_last_good_and_is_not_resent(mode: Mode) -> None:
    def reject(type_url: str, bodies: list[Any]) -> str | None:
        config = ec.route_to("x", "x", regex="(").body
        return "bad regex [marker]" if any(b.value == config.value for b in bodies) else None

    wire = Wire(mode, reject=lambda t, b: None)
    wire.connect(mesh("a", route_to="a"))
    bad = ec.route_to("r", "a", regex="(")
    wire.client.reject = lambda t, b: (
        "bad regex" if any(x.value == bad.body.value for x in b) else None
    )
    wire.push(mesh("a", route_to="a", regex="("), 2)
    routes = next(t for t in wire.session.types() if t.type_url == RDS)
    assert routes.error == "bad regex"
    assert wire.client.nacks == [RDS]  # once: the same content is not offered again
    assert not wire.session.in_sync()
    wire.push(mesh("a", route_to="a", regex="^/ok"), 3)
    assert wire.session.in_sync()
    assert next(t for t in wire.session.types() if t.type_url == RDS).error == ""


@pytest.mark.parametrize("mode", list(Mode))
def test_nacked_cluster_holds_routes_back(mode: Mode) -> None:
    wire = Wire(mode)
    wire.connect(mesh("a", route_to="a"))
    wire.client.reject = lambda t, b: (
        "bad cluster" if t == CDS and len(b) > 0 and _has(b, "b") else None
    )
    wire.push(mesh("b", route_to="b"), 2)
    assert wire.client.violations == []
    assert wire.client.names(RDS) == {"r"}
    assert _route_cluster(wire) == "a"  # traffic stays on the last good config
    wire.client.reject = lambda t, b: None
    wire.push(mesh("b", route_to="b", port=8081), 3)
    assert wire.session.in_sync() and _route_cluster(wire) == "b"


def test_delta_updated_cluster_resends_its_endpoints() -> None:
    wire = Wire(Mode.DELTA)
    wire.connect(mesh("a", route_to="a"))
    wire.log.clear()
    changed = ec.proxy_config(
        clusters=[ec.eds_cluster("a", connect_timeout_ms=2000)],
        endpoints=[ec.endpoints("a", [("127.0.0.1", 9000)])],
        listeners=[ec.http_listener("l", "127.0.0.1", 8080, "r")],
        routes=[ec.route_to("r", "a")],
    )
    wire.push(changed, 2)
    assert wire.sent_types() == ["CDS", "EDS"]
    assert [r.name for r in wire.log[1].resources] == ["a"]
    assert wire.session.in_sync()


def test_delta_sends_only_changes_and_honours_initial_versions() -> None:
    config = mesh("a", "b", route_to="a")
    wire = Wire(Mode.DELTA)
    wire.connect(config)
    wire.log.clear()
    wire.push(mesh("a", "b", route_to="b"), 2)
    assert wire.sent_types() == ["RDS"]

    # a reconnecting client says what it holds: nothing is re-sent
    session = Session(Mode.DELTA)
    session.set_target(config, 1, 0.0)
    clusters = config.of_type(CDS)
    out = session.receive(
        discovery_pb2.DeltaDiscoveryRequest(
            type_url=CDS, initial_resource_versions={n: r.version for n, r in clusters.items()}
        ),
        0.0,
    )
    assert len(out) == 1 and not out[0].resources and not out[0].removed_resources


def test_sotw_stale_nonce_is_ignored() -> None:
    session = Session(Mode.SOTW)
    session.set_target(mesh("a", route_to="a"), 1, 0.0)
    (first,) = session.receive(discovery_pb2.DiscoveryRequest(type_url=CDS), 0.0)
    session.set_target(mesh("a", "b", route_to="a"), 2, 0.0)
    out = session.set_target(mesh("a", "c", route_to="a"), 3, 0.0)
    assert len(out) == 1 and out[0].nonce != first.nonce
    # a NACK of the superseded response changes nothing
    stale = discovery_pb2.DiscoveryRequest(type_url=CDS, response_nonce=first.nonce)
    stale.error_detail.message = "old"
    assert session.receive(stale, 0.0) == []
    cds = session.types()[0]
    assert cds.error == "" and cds.sent_nonce == out[0].nonce


def test_request_without_type_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        Session(Mode.SOTW).receive(discovery_pb2.DiscoveryRequest(), 0.0)


def _has(bodies: list[Any], cluster: str) -> bool:
    return any(b.value == ec.eds_cluster(cluster).body.value for b in bodies)


def _route_cluster(wire: Wire) -> str:
    from envoy.config.route.v3 import route_pb2

    config = route_pb2.RouteConfiguration()
    wire.client.held[RDS]["r"][1].Unpack(config)
    return str(config.virtual_hosts[0].routes[0].route.cluster)


def test_a_placeholder_does_not_hide_the_eds_name_of_the_real_cluster_with_its_version() -> None:
    """After a reconnect the client reports versions only; when the real cluster of that same
    version is sent later, its endpoints must still be re-sent (regression: a cached None)."""
    from google.protobuf import any_pb2

    from mainsail.ads import staging
    from mainsail.testing import envoy_config as ec
    from mainsail.xds.resources import XdsResource

    real = ec.eds_cluster("reconnected-cluster")
    placeholder = XdsResource(name=real.name, version=real.version, body=any_pb2.Any())
    assert staging.eds_service_name(placeholder) is None
    assert staging.eds_service_name(real) == "reconnected-cluster"
