"""A restarted ADS server (the control plane after ``kill -9``) keeps driving a delta Envoy that
reconnects with ``initial_resource_versions``: updated clusters get their endpoints again, and
clusters can still be removed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

from mainsail.ads import AdsServer, Generator
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing import envoy_config as ec
from mainsail.testing.ports import free_port
from mainsail.testing.upstream import HttpUpstream
from mainsail.xds.resources import ProxyConfig

from .conftest import envoy_for
from .test_envoy import until

Upstreams = Callable[[str], HttpUpstream]


@asynccontextmanager
async def server_on(port: int, generator: Generator, **options: Any) -> AsyncIterator[AdsServer]:
    ads = AdsServer(generator, **options)
    server = grpc.aio.server()
    ads.add_to_server(server)
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    await server.start()
    try:
        yield ads
    finally:
        await ads.close()
        await server.stop(grace=None)


def config(port: int, upstreams: Upstreams, clusters: dict[str, int], route_to: str) -> ProxyConfig:
    return ec.proxy_config(
        clusters=[ec.eds_cluster(c, connect_timeout_ms=ms) for c, ms in clusters.items()],
        endpoints=[ec.endpoints(c, [("127.0.0.1", upstreams(c).port)]) for c in clusters],
        listeners=[ec.http_listener("main", "127.0.0.1", port, "main-routes")],
        routes=[ec.route_to("main-routes", route_to)],
    )


async def test_restarted_server_updates_and_removes_clusters_of_a_reconnected_delta_envoy(
    tmp_path: Path, upstreams: Upstreams
) -> None:
    port, xds_port = free_port(), free_port()
    both = {"blue": 1000, "green": 1000}

    def start(_: ProxyNode) -> ProxyConfig:
        return config(port, upstreams, both, "blue")

    async with envoy_for(tmp_path, xds_port, delta=True) as envoy:
        async with server_on(xds_port, start, debounce_after=0.01) as first:
            await first.wait_synced(timeout=15)
        # The control plane died; a new one with the same config takes the reconnect.
        async with server_on(xds_port, start, debounce_after=0.01) as second:
            await second.wait_synced(timeout=15)
            # An updated EDS cluster warms afresh: its endpoints must be sent again.
            changed = {"blue": 1000, "green": 2000}
            second.config_changed(lambda _: config(port, upstreams, changed, "blue"))
            await second.wait_synced(timeout=10)
            # ... and back to what it held before the restart.
            second.config_changed(lambda _: config(port, upstreams, both, "blue"))
            await second.wait_synced(timeout=10)
            # Removing a cluster the proxy had before the restart.
            second.config_changed(lambda _: config(port, upstreams, {"blue": 1000}, "blue"))
            await second.wait_synced(timeout=10)

            async def only_blue() -> bool:
                return await envoy.active_clusters() == {"blue"}

            await until(only_blue)
            dump = await envoy.config_dump("dynamic_warming_clusters")
            assert dump.get("configs", []) == []
