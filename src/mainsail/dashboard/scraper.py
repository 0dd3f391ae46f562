"""The control plane's scrape loop: every pod's Envoy ``/stats/prometheus`` every ``interval``
seconds into the metrics window.

Async (aiohttp, all pods at once, a short timeout each) and the parsing runs in a worker thread,
so a slow or dead Envoy never holds up the ADS server sharing the event loop; a pod that does
not answer adds nothing to that round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from mainsail.dashboard.metrics_window import MetricsWindow, Slot
from mainsail.dashboard.series_keys import LineMemo, PodScrape, reduce_scrape
from mainsail.platform.pod import PodSpec

log = logging.getLogger(__name__)


def _reduce_all(pages: dict[str, str | None], memo: LineMemo) -> dict[str, PodScrape | None]:
    return {pod: None if text is None else reduce_scrape(text, memo) for pod, text in pages.items()}


def _prepare(
    window: MetricsWindow, when: float, pages: dict[str, str | None], memo: LineMemo
) -> Slot | None:
    return window.prepare(when, _reduce_all(pages, memo))


class MetricsScraper:
    def __init__(
        self,
        window: MetricsWindow,
        pods: Callable[[], Sequence[PodSpec]],
        *,
        interval: float,
        timeout: float | None = None,
        after_round: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.window = window
        self.pods = pods
        self.interval = interval
        self.timeout = timeout if timeout is not None else max(0.5, min(interval * 0.8, 4.0))
        self.rounds = 0
        self.after_round = after_round
        # Parsed label texts, reused round after round (only the worker thread touches it).
        self.memo: LineMemo = {}

    async def scrape_once(self, session: aiohttp.ClientSession) -> None:
        pods = await asyncio.to_thread(self.pods)

        async def page(pod: PodSpec) -> str | None:
            url = f"http://{pod.ip}:{pod.proxy_ports.prometheus}/stats/prometheus"
            try:
                timeout = aiohttp.ClientTimeout(total=self.timeout)
                async with session.get(url, timeout=timeout) as response:
                    if response.status != 200:
                        return None
                    return await response.text(errors="replace")
            except (aiohttp.ClientError, TimeoutError, OSError):
                return None

        when = time.time()
        texts = await asyncio.gather(*(page(p) for p in pods))
        pages = {pod.key: text for pod, text in zip(pods, texts, strict=True)}
        # Parsing and differencing in a worker thread; the slot joins the window on the loop,
        # where the API reads it.
        slot = await asyncio.to_thread(_prepare, self.window, when, pages, self.memo)
        self.window.commit(slot)
        self.rounds += 1
        if self.after_round is not None:
            await self.after_round()

    async def run(self) -> None:
        """Until cancelled, on a fixed cadence (a slow round shortens the next wait)."""
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(trust_env=False) as session:
            while True:
                started = loop.time()
                try:
                    await self.scrape_once(session)
                except Exception:  # a bad round must not end the loop
                    log.exception("dashboard: scrape round failed")
                await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
