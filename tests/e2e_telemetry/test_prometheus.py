"""A real Prometheus (Debian's ``prometheus`` package) scrapes every pod's ``:15090`` and
answers the PromQL of Istio's Grafana dashboards and Kiali for BookInfo traffic (the
``prometheus`` fixture is in conftest.py, shared with test_grafana_dashboards.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
import urllib.request
from typing import Any

import pytest

from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import echo_once, tcp_echo_address

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with _NO_PROXY.open(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


async def test_istio_dashboard_queries_answer_for_bookinfo(
    telemetry_mesh: LocalMesh, prometheus: str
) -> None:
    mesh = telemetry_mesh
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            http_get(mesh.gateway_url("/productpage"))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        # Istio's Grafana "Istio Service Dashboard": request rate by destination workload/version.
        rate = (
            'sum(rate(istio_requests_total{reporter="destination",'
            'destination_service_name="reviews"}[15s])) by (destination_workload, destination_version)'
        )

        def three_versions() -> list[dict[str, Any]]:
            found = _query(prometheus, rate)
            return found if len(found) == 3 else []

        rows = await wait_for(
            three_versions, timeout=60, interval=1, message="reviews' three versions in Prometheus"
        )
        assert {r["metric"]["destination_version"] for r in rows} == {"v1", "v2", "v3"}
        # Success rate (non-5xx), as the dashboards and Kiali compute it.
        success = (
            'sum(rate(istio_requests_total{reporter="destination",response_code!~"5.*",'
            'destination_service_name="productpage"}[15s])) / sum(rate(istio_requests_total'
            '{reporter="destination",destination_service_name="productpage"}[15s]))'
        )
        # A rate needs two scrapes of productpage's page inside the window: wait for them.
        [ratio] = await wait_for(
            lambda: _query(prometheus, success), timeout=60, interval=1, message="success rate"
        )
        assert float(ratio["value"][1]) == pytest.approx(1.0)
        # p99 latency with histogram_quantile, per destination workload.
        p99 = (
            "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket"
            '{reporter="destination"}[30s])) by (le, destination_workload))'
        )
        wanted = {"productpage-v1", "details-v1", "ratings-v1"}

        def latencies_of_every_hop() -> list[dict[str, Any]]:
            found = [r for r in _query(prometheus, p99) if r["value"][1] != "NaN"]
            seen = {r["metric"]["destination_workload"] for r in found}
            return found if wanted <= seen else []

        latencies = await wait_for(
            latencies_of_every_hop, timeout=60, interval=1, message="p99 latencies of every hop"
        )
        assert all(float(r["value"][1]) > 0 for r in latencies)
        # Kiali's graph edge query: who calls whom, from the client side.
        edges = _query(
            prometheus,
            'sum(istio_requests_total{reporter="source"}) by (source_workload, destination_workload)',
        )
        pairs = {
            (e["metric"]["source_workload"], e["metric"]["destination_workload"]) for e in edges
        }
        assert ("istio-ingressgateway", "productpage-v1") in pairs
        assert ("productpage-v1", "details-v1") in pairs
        # TCP bytes (Istio's TCP dashboards), from both reporters.
        address = tcp_echo_address(mesh)
        assert await asyncio.to_thread(echo_once, address) == "hello world\n"
        received = (
            'sum(istio_tcp_received_bytes_total{destination_service_name="tcp-echo"}) by (reporter)'
        )

        def both_reporters() -> list[dict[str, Any]]:
            found = _query(prometheus, received)
            return found if len(found) == 2 else []

        tcp = await wait_for(both_reporters, timeout=60, interval=1, message="TCP bytes")
        assert all(float(r["value"][1]) >= len(b"world\n") for r in tcp)
    finally:
        stop.set()
        worker.join(timeout=15)
