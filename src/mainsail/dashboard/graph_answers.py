"""``/api/graph`` answers, encoded once per scrape: the graph changes only when a scrape lands
(or the pods or registry change), so the pages of several viewers, and one page's refreshes
within a scrape interval, share one answer. After each scrape round the answers asked for in
the last minute are computed ahead (``refresh``, called by the scraper), so a page's request
finds its answer ready. The window is summed on the event loop (it is the window's only
reader); the graph is built and encoded in a worker thread, so a big mesh's graph does not
hold up the ADS server sharing the loop."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from mainsail.dashboard.graph import MeshInventory, build_graph
from mainsail.dashboard.metrics_window import WindowTotals
from mainsail.dashboard.sources import DashboardSources, inventory

# Answers kept (one per window length, namespace and scrape), and how long a (window, namespace)
# asked for is computed ahead after each scrape.
_KEPT = 16
_ASKED_RECENTLY = 60.0
_WATCHED = 8  # at most this many (window, namespace) pairs computed ahead


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _encoded(
    totals: WindowTotals, found: MeshInventory, namespace: str | None, seconds: float
) -> bytes:
    graph = build_graph(totals, found, namespace=namespace)
    head = {"window_seconds": seconds, "generated_at": _now_iso(), "source": "scrape"}
    return json.dumps({**head, **graph}).encode()


class GraphAnswers:
    def __init__(self, sources: DashboardSources) -> None:
        self.sources = sources
        self._answers: dict[tuple[object, ...], bytes] = {}
        self._asked: dict[tuple[float, str | None], float] = {}

    def _inventory(self) -> MeshInventory:
        return inventory(self.sources.snapshot(), self.sources.pods())

    async def answer(self, seconds: float, namespace: str | None) -> bytes:
        self._asked.pop((seconds, namespace), None)
        self._asked[(seconds, namespace)] = time.monotonic()  # most recent last
        while len(self._asked) > _WATCHED:
            del self._asked[next(iter(self._asked))]
        return await self._answer(seconds, namespace)

    async def _answer(self, seconds: float, namespace: str | None) -> bytes:
        window = self.sources.window
        found = await asyncio.to_thread(self._inventory)
        key = (seconds, namespace, window.latest, len(window), found)
        body = self._answers.get(key)
        if body is None:
            totals = window.totals(seconds)
            body = await asyncio.to_thread(_encoded, totals, found, namespace, seconds)
            if len(self._answers) >= _KEPT:
                self._answers.clear()
            self._answers[key] = body
        return body

    async def refresh(self) -> None:
        """After a scrape round: the answers asked for lately, for the new window."""
        now = time.monotonic()
        for asked, when in list(self._asked.items()):
            if now - when > _ASKED_RECENTLY:
                del self._asked[asked]
            else:
                await self._answer(*asked)
