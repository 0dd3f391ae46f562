"""The ADS server driving a real Envoy 1.40 (SotW and delta): ACKs, traffic, NACKs, make before break."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from mainsail import naming
from mainsail.ads import AdsServer, SyncState
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing import envoy_config as ec
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.load import LoadLoop
from mainsail.testing.ports import free_port
from mainsail.testing.upstream import HttpUpstream
from mainsail.xds.resources import ProxyConfig

from .conftest import NODE_ID, ads_server, envoy_for

MODES = [pytest.param(False, id="sotw"), pytest.param(True, id="delta")]
Upstreams = Callable[[str], HttpUpstream]


def config(
    port: int,
    upstreams: Upstreams,
    clusters: tuple[str, ...],
    route_to: str,
    *,
    regex: str | None = None,
    bad_cluster: str | None = None,
) -> ProxyConfig:
    return ec.proxy_config(
        clusters=[
            ec.eds_cluster(c, connect_timeout_ms=-1000 if c == bad_cluster else 1000)
            for c in clusters
        ],
        endpoints=[ec.endpoints(c, [("127.0.0.1", upstreams(c).port)]) for c in clusters],
        listeners=[ec.http_listener("main", "127.0.0.1", port, "main-routes")],
        routes=[ec.route_to("main-routes", route_to, regex=regex)],
    )


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.01)  # polling a condition


async def body(url: str) -> str:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.get(url) as response,
    ):
        assert response.status == 200, response.status
        return await response.text()


def states(ads: AdsServer) -> dict[str, SyncState]:
    (status,) = ads.proxy_status()
    return {t.short_name: t.state for t in status.types}


@pytest.mark.parametrize("delta", MODES)
async def test_envoy_acks_and_traffic_follows_config(
    tmp_path: Path, upstreams: Upstreams, delta: bool
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hello"
    seen: list[ProxyNode] = []

    def blue(node: ProxyNode) -> ProxyConfig:
        seen.append(node)
        return config(port, upstreams, ("blue",), "blue")

    async with (
        ads_server(blue, debounce_after=0.05) as (ads, xds_port),
        envoy_for(tmp_path, xds_port, delta=delta) as envoy,
    ):
        await ads.wait_synced(timeout=15)
        await serving(envoy, url, "blue")
        (status,) = ads.proxy_status()
        assert status.node_id == NODE_ID and status.proxy_id == "test-pod.default"
        assert status.mode == ("delta" if delta else "SotW")
        assert {t.short_name: t.state for t in status.types} == {
            "CDS": SyncState.SYNCED,
            "EDS": SyncState.SYNCED,
            "LDS": SyncState.SYNCED,
            "RDS": SyncState.SYNCED,
        }
        assert seen[0].app_ports == ((8080, 18080),) and seen[0].label_map == {"app": "test"}
        assert await body(url) == "blue"
        assert await envoy.active_clusters() == {"blue"}

        # a new snapshot, through the debounce
        ads.config_changed(lambda node: config(port, upstreams, ("green",), "green"))
        started = time.perf_counter()
        await until(lambda: _returns(url, "green"))
        print(f"\nconfig change visible in traffic after {time.perf_counter() - started:.3f}s")
        await ads.wait_synced(timeout=10)
        await until(lambda: _clusters_are(envoy, {"green"}))
        assert await envoy.route_clusters() == {"green"}
        assert envoy.running


@pytest.mark.parametrize("delta", MODES)
async def test_invalid_route_is_nacked_and_traffic_keeps_last_good(
    tmp_path: Path, upstreams: Upstreams, delta: bool
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    async with (
        ads_server(lambda node: config(port, upstreams, ("blue",), "blue")) as (ads, xp),
        envoy_for(tmp_path, xp, delta=delta) as envoy,
    ):
        await ads.wait_synced(timeout=15)
        await serving(envoy, url, "blue")
        ads.config_changed(
            lambda node: config(port, upstreams, ("blue", "green"), "green", regex="(")
        )
        await ads.push_now()
        await until(lambda: _state_is(ads, "RDS", SyncState.NACK))
        (status,) = ads.proxy_status()
        routes = status.of(naming.ROUTE_TYPE)
        assert routes is not None and routes.error
        print(f"\nEnvoy's NACK: {routes.error}")
        assert routes.acked_version and routes.acked_version != routes.sent_version
        for _ in range(20):
            assert await body(url) == "blue"  # the last good route
        assert await envoy.route_clusters() == {"blue"}

        # a good config heals it
        ads.config_changed(lambda node: config(port, upstreams, ("green",), "green"))
        await ads.push_now()
        await ads.wait_synced(timeout=10)
        assert states(ads)["RDS"] is SyncState.SYNCED
        assert await body(url) == "green"


@pytest.mark.parametrize("delta", MODES)
async def test_invalid_cluster_is_nacked_and_routes_are_held_back(
    tmp_path: Path, upstreams: Upstreams, delta: bool
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    async with (
        ads_server(lambda node: config(port, upstreams, ("blue",), "blue")) as (ads, xp),
        envoy_for(tmp_path, xp, delta=delta) as envoy,
    ):
        await ads.wait_synced(timeout=15)
        await serving(envoy, url, "blue")
        # green has a negative connect_timeout: Envoy rejects the whole CDS update
        ads.config_changed(
            lambda node: config(port, upstreams, ("green",), "green", bad_cluster="green")
        )
        await ads.push_now()
        await until(lambda: _state_is(ads, "CDS", SyncState.NACK))
        (status,) = ads.proxy_status()
        clusters = status.of(naming.CLUSTER_TYPE)
        assert clusters is not None and clusters.error
        print(f"\nEnvoy's NACK: {clusters.error}")
        # the route to green was never sent; traffic stays on blue
        for _ in range(20):
            assert await body(url) == "blue"
        assert await envoy.active_clusters() == {"blue"}
        assert await envoy.route_clusters() == {"blue"}


@pytest.mark.parametrize("delta", MODES)
async def test_make_before_break_under_load(
    tmp_path: Path, upstreams: Upstreams, delta: bool
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/load"
    async with (
        ads_server(lambda node: config(port, upstreams, ("blue",), "blue")) as (ads, xp),
        envoy_for(tmp_path, xp, delta=delta) as envoy,
    ):
        await ads.wait_synced(timeout=15)
        await serving(envoy, url, "blue")
        async with LoadLoop(url, concurrency=6) as load:
            await load.wait_for(100)
            # switch the route to a brand-new cluster; the old one goes in the same push
            ads.config_changed(lambda node: config(port, upstreams, ("green",), "green"))
            started = time.perf_counter()
            await ads.push_now()
            await ads.wait_synced(timeout=10)
            staged = time.perf_counter() - started
            assert await envoy.active_clusters() == {"green"}
            await load.wait_for(100)

            # pushes landing mid-stage: three targets back to back
            for generation, (cluster, route) in enumerate(
                [(("yellow",), "yellow"), (("blue", "green"), "blue"), (("green",), "green")]
            ):
                ads.config_changed(lambda node, c=cluster, r=route: config(port, upstreams, c, r))
                await ads.push_now()
                if generation < 2:
                    await asyncio.sleep(0)  # let the push reach the stream, not the ACKs
            await ads.wait_synced(timeout=10)
            await load.wait_for(100)
        result = load.result
        print(
            f"\n{result.total} requests, {result.failures} failures, bodies {dict(result.bodies)}; "
            f"staged push (3 stages) synced in {staged * 1000:.1f} ms"
        )
        assert result.failures == 0, (result.statuses, result.errors)
        assert result.bodies["blue"] > 0 and result.bodies["green"] > 0
        assert await envoy.active_clusters() == {"green"}
        assert await envoy.route_clusters() == {"green"}


async def _returns(url: str, expected: str) -> bool:
    try:
        return await body(url) == expected
    except aiohttp.ClientConnectorError:
        return False


async def serving(envoy: EnvoyProcess, url: str, expected: str) -> None:
    """After the first sync: an ACKed listener is accepting only once Envoy's workers have it."""
    await envoy.wait_ready()
    await until(lambda: _returns(url, expected))


async def _clusters_are(envoy: EnvoyProcess, expected: set[str]) -> bool:
    return await envoy.active_clusters() == expected


async def _state_is(ads: AdsServer, short: str, state: SyncState) -> bool:
    return states(ads).get(short) is state
