"""The incremental session decides exactly what the straightforward one did.

``reference_session.Session`` re-walks every resource on each push and ACK; the real session
looks only at what changed. Both are driven in lockstep by one simulated Envoy through random
pushes (landing mid-stage), NACKs, re-subscriptions and reconnects with initial versions; every
response and every sync state must be the same.
"""

from __future__ import annotations

import os
import random
from collections import deque
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2

from mainsail import naming
from mainsail.ads.session import Mode, Session
from mainsail.testing import envoy_config as ec
from mainsail.testing.xds_client import SimulatedEnvoy
from mainsail.xds.resources import ProxyConfig, XdsResource
from tests.ads import reference_session as reference

CDS, EDS, LDS, RDS = (
    naming.CLUSTER_TYPE,
    naming.ENDPOINT_TYPE,
    naming.LISTENER_TYPE,
    naming.ROUTE_TYPE,
)
BAD_REGEX = "("
# More seeds for a longer hunt: MAINSAIL_ORACLE_SEEDS=300 (600 runs pass, about a minute).
SEEDS = int(os.environ.get("MAINSAIL_ORACLE_SEEDS", "16"))


def static_cluster(name: str, port: int) -> XdsResource:
    """A cluster with its endpoints inline (ready once ACKed, no EDS to wait for)."""
    cluster = cluster_pb2.Cluster(name=name, type=cluster_pb2.Cluster.STATIC)
    cluster.connect_timeout.seconds = 1
    cluster.load_assignment.cluster_name = name
    address = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint.address
    address.socket_address.address = "127.0.0.1"
    address.socket_address.port_value = port
    return XdsResource.pack(name, cluster)


def aliased_cluster(name: str, service: str, timeout_ms: int) -> XdsResource:
    """An EDS cluster whose endpoints have another name (several clusters may share them)."""
    cluster = cluster_pb2.Cluster()
    ec.eds_cluster(name, connect_timeout_ms=timeout_ms).body.Unpack(cluster)
    cluster.eds_cluster_config.service_name = service
    return XdsResource.pack(name, cluster)


def random_mesh(rng: random.Random) -> ProxyConfig:
    names = rng.sample([f"c{i}" for i in range(8)], rng.randint(1, 5))
    statics = rng.sample(["s0", "s1"], rng.randint(0, 2))
    aliased = {
        name: service
        for name, service in (("x0", "svc-x"), ("x1", rng.choice(names)))
        if rng.random() < 0.4
    }
    route_names = ["r", "r2", "r3"]
    listeners = [ec.http_listener("l", "127.0.0.1", 8080, rng.choice(route_names))]
    if rng.random() < 0.5:
        listeners.append(ec.http_listener("l2", "127.0.0.1", 8081, rng.choice(route_names)))
    return ec.proxy_config(
        clusters=[
            *(ec.eds_cluster(c, connect_timeout_ms=rng.choice([1000, 2000, 3000])) for c in names),
            *(static_cluster(s, rng.choice([1, 2])) for s in statics),
            *(aliased_cluster(n, svc, rng.choice([1000, 2000])) for n, svc in aliased.items()),
        ],
        endpoints=[
            ec.endpoints(c, [("127.0.0.1", rng.choice([1, 2]))])
            for c in sorted({*names, *aliased.values()})
            if rng.random() < 0.9  # sometimes a cluster has no endpoints (yet)
        ],
        listeners=listeners,
        routes=[
            ec.route_to(
                r,
                rng.choice(names + statics + sorted(aliased)),
                regex=BAD_REGEX if rng.random() < 0.1 else None,
            )
            for r in route_names
        ],
    )


def reject(type_url: str, bodies: list[Any]) -> str | None:
    """Envoy refuses a route with an invalid regex, and a cluster with a 3 s timeout (a stand-in
    for any cluster it rejects), so NACKs happen at random points."""
    bad_routes = {
        ec.route_to(r, f"c{i}", regex=BAD_REGEX).body.value
        for r in ("r", "r2", "r3")
        for i in range(8)
    }
    bad_clusters = {ec.eds_cluster(f"c{i}", connect_timeout_ms=3000).body.value for i in range(8)}
    bad = bad_routes if type_url == RDS else bad_clusters if type_url == CDS else set()
    return "rejected [test]" if any(b.value in bad for b in bodies) else None


def _same_response(a: Any, b: Any) -> bool:
    return bool(a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True))


class Lockstep:
    """One simulated Envoy, two sessions fed the same messages; their answers must agree."""

    def __init__(self, mode: Mode, rng: random.Random, *, nacks: bool) -> None:
        self.mode = mode
        self.rng = rng
        self.real = Session(mode)
        self.oracle = reference.Session(mode)
        self.client = SimulatedEnvoy(
            delta=mode is Mode.DELTA, reject=reject if nacks else lambda _t, _b: None
        )
        self.to_server: deque[Any] = deque()
        self.to_client: deque[Any] = deque()
        self.now = 0.0

    def both(self, real: list[Any], oracle: list[Any], what: str) -> None:
        assert len(real) == len(oracle), (what, real, oracle)
        for a, b in zip(real, oracle, strict=True):
            assert _same_response(a, b), (what, a, b)
        self.to_client.extend(real)
        self.check_states(what)

    def check_states(self, what: str) -> None:
        real, oracle = self.real, self.oracle
        assert real.in_sync() == oracle.in_sync(), what
        assert (real.active is real.target) == (oracle.active is oracle.target), what
        real_types, oracle_types = real.types(), oracle.types()
        assert [t.type_url for t in real_types] == [t.type_url for t in oracle_types], what
        for r, o in zip(real_types, oracle_types, strict=True):
            assert (r.exchange, r.error, r.sent_version, r.sent_nonce, r.acked_version) == (
                o.exchange,
                o.error,
                o.sent_version,
                o.sent_nonce,
                o.acked_version,
            ), (what, r.type_url)
            assert real.type_in_sync(r) == oracle.type_in_sync(o), (what, r.type_url)
            assert r.unsettled_since == o.unsettled_since, (what, r.type_url)

    def push(self, config: ProxyConfig, generation: int) -> None:
        self.now += 0.001
        self.both(
            self.real.set_target(config, generation, self.now),
            self.oracle.set_target(config, generation, self.now),
            f"push {generation}",
        )

    def request(self, request: Any) -> None:
        self.now += 0.001
        self.both(
            self.real.receive(request, self.now),
            self.oracle.receive(request, self.now),
            f"request {request.type_url} nonce {request.response_nonce!r}",
        )

    def step(self) -> bool:
        if self.to_server:
            self.request(self.to_server.popleft())
            return True
        if self.to_client:
            self.to_server.extend(self.client.handle(self.to_client.popleft()))
            return True
        return False

    def run(self, limit: int = 1000) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("no quiescence")

    def resubscribe_one(self) -> None:
        """Envoy re-subscribes to an endpoint assignment it holds (delta), unprompted."""
        held = sorted(self.client.subscribed.get(EDS, set()))
        if held:
            self.to_server.append(
                discovery_pb2.DeltaDiscoveryRequest(
                    type_url=EDS, resource_names_subscribe=[self.rng.choice(held)]
                )
            )

    def reconnect(self, config: ProxyConfig, generation: int) -> None:
        """A new stream (both sessions anew); the client says what it holds (delta)."""
        self.real, self.oracle = Session(self.mode), reference.Session(self.mode)
        self.to_server.clear()
        self.to_client.clear()
        self.client.held_ack = None
        self.push(config, generation)
        for type_url in (CDS, LDS, EDS, RDS):
            held = self.client.held.get(type_url, {})
            request = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=sorted(self.client.subscribed.get(type_url, set())),
            )
            for name, (version, _) in held.items():
                request.initial_resource_versions[name] = version
            if type_url in (CDS, LDS) or request.resource_names_subscribe:
                self.to_server.append(request)


@pytest.mark.parametrize("seed", range(SEEDS))
@pytest.mark.parametrize("mode", list(Mode))
def test_same_decisions_as_the_straightforward_session(mode: Mode, seed: int) -> None:
    rng = random.Random(seed)
    wire = Lockstep(mode, rng, nacks=seed % 2 == 0)
    config = random_mesh(rng)
    wire.push(config, 1)
    wire.to_server.extend(wire.client.start())
    wire.run()
    for generation in range(2, 60):
        if rng.random() < 0.7:
            config = random_mesh(rng)
        if mode is Mode.DELTA and rng.random() < 0.05:
            wire.run()
            wire.reconnect(config, generation)
        else:
            wire.push(config, generation)
        for _ in range(rng.randint(0, 15)):
            if mode is Mode.DELTA and rng.random() < 0.1:
                wire.resubscribe_one()
            wire.step()
    wire.run()
    assert wire.real.target is not None
