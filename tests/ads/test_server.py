"""AdsServer without Envoy: a fake clock and a simulated client wired to its hub methods."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

import mainsail.ads
from mainsail import naming
from mainsail.ads import AdsServer, Mode, SyncState, SyncTimeoutError
from mainsail.ads.connection import Connection
from mainsail.ads.node import proxy_node_from_envoy
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing import envoy_config as ec
from mainsail.testing.clock import FakeClock, settle
from mainsail.testing.waiting import wait_for
from mainsail.testing.xds_client import NODE_ID, SimulatedEnvoy
from mainsail.xds.resources import ProxyConfig

from .conftest import ads_server


def mesh(cluster: str) -> ProxyConfig:
    return ec.proxy_config(
        clusters=[ec.eds_cluster(cluster)],
        endpoints=[ec.endpoints(cluster, [("127.0.0.1", 9000)])],
        listeners=[ec.http_listener("l", "127.0.0.1", 8080, "r")],
        routes=[ec.route_to("r", cluster)],
    )


class Proxy:
    """A simulated Envoy attached to the server's hub (no gRPC)."""

    def __init__(self, server: AdsServer, mode: Mode = Mode.SOTW, **client: object) -> None:
        self.server = server
        self.client = SimulatedEnvoy(delta=mode is Mode.DELTA, **client)  # type: ignore[arg-type]
        requests = self.client.start()
        self.connection = Connection(
            node=proxy_node_from_envoy(requests[0].node),
            mode=mode,
            connected_since=datetime.now(UTC),
        )
        server.connected(self.connection)
        self.pending = list(requests)

    def run(self) -> None:
        for _ in range(500):
            if self.pending:
                self.server.received(self.connection, self.pending.pop(0))
            elif not self.connection.outbox.empty():
                self.pending += self.client.handle(self.connection.outbox.get_nowait())
            else:
                return
        raise AssertionError("no quiescence")


async def test_debounced_push_reaches_proxies_and_status_follows() -> None:
    clock = FakeClock()
    calls: list[ProxyNode] = []

    def blue(node: ProxyNode) -> ProxyConfig:
        calls.append(node)
        return mesh("blue")

    server = AdsServer(blue, clock=clock, debounce_after=0.1, debounce_max=10.0)
    proxy = Proxy(server)
    proxy.run()
    await server.wait_synced(timeout=1)
    (status,) = server.proxy_status()
    assert status.proxy_id == "sim-0.default" and status.node_id == NODE_ID
    assert status.synced and status.generation == 0
    assert len(calls) == 1

    server.config_changed(lambda node: mesh("green"))
    await settle()
    await clock.advance(0.05)
    proxy.run()
    assert proxy.client.names(naming.CLUSTER_TYPE) == {"blue"}  # still debouncing
    assert server.proxy_status()[0].synced  # a generation starts when the debounce fires
    await clock.advance(0.05)
    states = {t.short_name: t.state for t in server.proxy_status()[0].types}
    assert states["CDS"] is SyncState.SYNCED  # in flight for less than a moment
    await clock.advance(1.5)
    states = {t.short_name: t.state for t in server.proxy_status()[0].types}
    assert states["CDS"] is SyncState.STALE and states["LDS"] is SyncState.STALE
    proxy.run()
    assert proxy.client.names(naming.CLUSTER_TYPE) == {"green"}
    await server.wait_synced(timeout=1)
    assert server.proxy_status()[0].generation == 1
    await server.close()


async def test_generated_config_is_cached_per_generation_and_node() -> None:
    calls: list[ProxyNode] = []

    def gen(node: ProxyNode) -> ProxyConfig:
        calls.append(node)
        return mesh("blue")

    server = AdsServer(gen, clock=FakeClock())
    first, second = Proxy(server), Proxy(server)
    first.run()
    second.run()
    assert len(calls) == 1  # same node, same generation
    await server.push_now()
    assert len(calls) == 2
    await server.close()


async def test_nack_status_and_wait_synced_timeout() -> None:
    clock = FakeClock()
    bad = ec.route_to("r", "blue", regex="(")
    server = AdsServer(lambda node: mesh("blue"), clock=clock)
    proxy = Proxy(server)
    proxy.run()
    proxy.client.reject = lambda t, bodies: (
        "missing ): [x]" if any(b.value == bad.body.value for b in bodies) else None
    )
    server.config_changed(
        lambda node: ec.proxy_config(
            clusters=[ec.eds_cluster("blue")],
            endpoints=[ec.endpoints("blue", [("127.0.0.1", 9000)])],
            listeners=[ec.http_listener("l", "127.0.0.1", 8080, "r")],
            routes=[bad],
        )
    )
    await server.push_now()
    proxy.run()
    routes = server.proxy_status()[0].of(naming.ROUTE_TYPE)
    assert routes is not None and routes.state is SyncState.NACK
    assert routes.error == "missing ): [x]"
    waiting = __import__("asyncio").ensure_future(server.wait_synced(timeout=2))
    await settle()
    await clock.advance(2)
    with pytest.raises(SyncTimeoutError, match=r"sim-0\.default"):
        await waiting
    await server.close()


async def test_bad_node_is_invalid_argument_over_grpc() -> None:
    async with (
        ads_server(lambda node: mesh("blue")) as (_, port),
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        request = discovery_pb2.DiscoveryRequest(
            type_url=naming.CLUSTER_TYPE, node=base_pb2.Node(id="not-a-node-id")
        )
        call = stub.StreamAggregatedResources(iter([request]))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "node.id" in (caught.value.details() or "")


async def test_grpc_stream_serves_and_forgets_the_connection() -> None:
    async with ads_server(lambda node: mesh("blue")) as (ads, port):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
            first = discovery_pb2.DeltaDiscoveryRequest(
                type_url=naming.CLUSTER_TYPE, node=base_pb2.Node(id=NODE_ID, cluster="c")
            )
            call = stub.DeltaAggregatedResources()
            await call.write(first)
            response = await call.read()
            assert [r.name for r in response.resources] == ["blue"]
            assert len(ads.proxy_status()) == 1
            await call.done_writing()
            call.cancel()
        # gRPC's cancellation reaches the servicer through its own threads: real time, not
        # event-loop turns (200 turns were once not enough in CI).
        await wait_for(lambda: ads.proxy_status() == (), timeout=10, interval=0.01,
                       message="the cancelled stream's proxy forgotten")  # fmt: skip


def test_public_api() -> None:
    for name in mainsail.ads.__all__:
        assert hasattr(mainsail.ads, name)
    assert {"AdsServer", "Generator", "ProxyStatus", "SyncState"} <= set(mainsail.ads.__all__)


async def test_on_idle_runs_once_the_server_has_been_quiet_after_pushes() -> None:
    clock = FakeClock()
    idle: list[float] = []
    server = AdsServer(
        lambda node: mesh("blue"),
        clock=clock,
        debounce_after=0.1,
        on_idle=lambda: idle.append(clock.now()),
        idle_after=1.0,
    )
    proxy = Proxy(server)
    proxy.run()  # connected, pushed, ACKed at t=0
    await clock.advance(0.9)
    assert idle == []  # not quiet for long enough yet
    await clock.advance(0.2)
    assert idle == [1.0]
    await clock.advance(5.0)
    assert idle == [1.0]  # quiet since: nothing more to tidy

    server.config_changed(lambda node: mesh("green"))
    await clock.advance(0.1)  # the debounce fires: a push at t=6.2
    proxy.run()
    assert proxy.client.names(naming.CLUSTER_TYPE) == {"green"}
    await clock.advance(0.95)
    assert idle == [1.0]
    await clock.advance(0.1)
    assert idle == [1.0, pytest.approx(7.2)]
    await server.close()


async def test_on_idle_still_runs_every_30_s_when_the_server_is_never_quiet() -> None:
    clock = FakeClock()
    idle: list[float] = []
    server = AdsServer(
        lambda node: mesh("blue"), clock=clock, on_idle=lambda: idle.append(clock.now())
    )
    proxy = Proxy(server)
    proxy.run()
    for _ in range(70):  # a request every half second for 35 s
        await clock.advance(0.5)
        server.received(proxy.connection, proxy.client.start()[0])
    assert idle == [30.0]
    await server.close()
