"""With ``--prometheus-url``, the dashboard's charts read their history from a real Prometheus
(Debian's ``prometheus``, scraping every pod's ``:15090``), with Istio's PromQL; the figures over
the window still come from the dashboard's own scrapes (docs/dashboard.md)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

from mainsail.testing.load import LoadLoop
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> dict[str, Any]:
    with _NO_PROXY.open(url, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def _busy(points: list[list[float | None]]) -> bool:
    return any(value is not None and value > 0 for _, value in points)


async def test_charts_read_their_history_from_prometheus(
    telemetry_mesh: LocalMesh, prometheus: str
) -> None:
    mesh = telemetry_mesh
    async with LoadLoop(mesh.gateway_url("/productpage"), concurrency=1):
        reviews = mesh.dashboard_url("/api/services/default/reviews?window=30s&range=2m")

        async def reviews_charted() -> dict[str, Any] | None:
            body = await asyncio.to_thread(_get, reviews)
            return (
                body if _busy(body["series"]["rps"]) and _busy(body["series"]["p99_ms"]) else None
            )

        body = await wait_for(
            reviews_charted, timeout=90, interval=0.5, message="reviews' rps and p99 charted"
        )
        assert body["source"] == "prometheus"
        assert body["signals"]["rps"] > 0  # the window's own figure

        summary = mesh.dashboard_url("/api/summary?window=30s&range=2m")

        async def mesh_charted() -> dict[str, Any] | None:
            found = await asyncio.to_thread(_get, summary)
            return found if _busy(found["series"]["rps"]) else None

        found = await wait_for(
            mesh_charted, timeout=60, interval=0.5, message="the mesh's rps charted"
        )
        assert found["source"] == "prometheus"
        # Prometheus' points sit on the step grid the API asked for.
        times = [t for t, _ in found["series"]["rps"]]
        assert times == sorted(times) and len(set(times)) == len(times)
