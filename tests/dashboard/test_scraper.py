"""The scrape loop over real HTTP: every pod's stats page read at once, a pod that does not
answer adds nothing, the increases land in the window."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from mainsail.dashboard.metrics_window import MetricsWindow
from mainsail.dashboard.scraper import MetricsScraper
from mainsail.platform.pod import PodSpec, ProxyPorts
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from tests.dashboard.synthetic import Page, caller, server

PRODUCTPAGE = caller("default", "productpage-v1", "productpage")
REVIEWS = server("default", "reviews-v1", "reviews", "reviews")


class FakeEnvoy:
    """A stats page whose request counter moves by ``step`` every time it is read."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.count = 0

    async def stats(self, _: web.Request) -> web.Response:
        self.count += self.step
        return web.Response(text=Page().requests(self.count, **PRODUCTPAGE, **REVIEWS).text())


@pytest.fixture
async def envoy() -> AsyncIterator[tuple[FakeEnvoy, PodSpec]]:
    fake = FakeEnvoy(step=3)
    app = web.Application()
    app.router.add_get("/stats/prometheus", fake.stats)
    runner = web.AppRunner(app)
    await runner.setup()
    host = random_loopback_address()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    pod = PodSpec(name="reviews-v1-0", namespace="default", ip=host,
                  proxy_ports=ProxyPorts(prometheus=port))  # fmt: skip
    try:
        yield fake, pod
    finally:
        await runner.cleanup()


async def test_scrape_rounds_fill_the_window(envoy: tuple[FakeEnvoy, PodSpec]) -> None:
    fake, pod = envoy
    silent = PodSpec(name="gone-0", namespace="default", ip=random_loopback_address(),
                     proxy_ports=ProxyPorts(prometheus=free_port()))  # fmt: skip
    window = MetricsWindow(history=60, interval=0.1)
    scraper = MetricsScraper(window, lambda: [pod, silent], interval=0.1, timeout=1)
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            await scraper.scrape_once(session)
    assert fake.count == 9
    totals = window.totals(60)
    assert sum(totals.counters.values()) == 6  # two increases of 3; the first read a baseline
    assert set(window._last) == {"default.reviews-v1-0"}
