"""Series from a Prometheus (``--prometheus-url``): Istio's PromQL, ``query_range`` answers
turned into points, and a Prometheus that refuses or is not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from mainsail.dashboard.errors import UnavailableError
from mainsail.dashboard.prometheus_source import prometheus_series, queries
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port

LABELS = {"reporter": "destination", "destination_service_name": "reviews",
          "destination_service_namespace": "default"}  # fmt: skip


def test_queries_are_istios_dashboard_promql() -> None:
    found = queries(LABELS, 60)
    matchers = 'destination_service_name="reviews",destination_service_namespace="default",reporter="destination"'
    assert found["rps"] == f"sum(rate(istio_requests_total{{{matchers}}}[60s]))"
    assert f'istio_requests_total{{{matchers},response_code=~"5.."}}[60s]' in found["error_rate"]
    assert found["p99_ms"] == (
        f"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket"
        f"{{{matchers}}}[60s])) by (le))"
    )


@pytest.fixture
async def prometheus() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    asked: list[dict[str, str]] = []

    async def query_range(request: web.Request) -> web.Response:
        asked.append(dict(request.query))
        if "bad" in request.query["query"]:
            return web.json_response({"status": "error", "error": "parse error"}, status=400)
        values: list[list[Any]] = [[100.0, "1.5"], [115.0, "NaN"]]
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": [{"values": values}]}}
        )

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    runner = web.AppRunner(app)
    await runner.setup()
    host = random_loopback_address()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{port}", asked
    finally:
        await runner.cleanup()


async def test_query_range_points(prometheus: tuple[str, list[dict[str, str]]]) -> None:
    url, asked = prometheus
    found = await prometheus_series(url, LABELS, start=100, end=115, step=15, window_seconds=60)
    assert set(found) == {"rps", "error_rate", "p50_ms", "p99_ms"}
    assert found["rps"] == [[100.0, 1.5], [115.0, None]]  # NaN: nobody measured it
    assert asked[0]["start"] == "100" and asked[0]["end"] == "115" and asked[0]["step"] == "15"


async def test_a_refusal_or_silence_is_unavailable(
    prometheus: tuple[str, list[dict[str, str]]],
) -> None:
    url, _ = prometheus
    with pytest.raises(UnavailableError, match="parse error"):
        await prometheus_series(url, {"bad": "x"}, start=0, end=1, step=1, window_seconds=1)
    nobody = f"http://{random_loopback_address()}:{free_port()}"
    with pytest.raises(UnavailableError, match="did not answer"):
        await prometheus_series(nobody, LABELS, start=0, end=1, step=1, window_seconds=1)
