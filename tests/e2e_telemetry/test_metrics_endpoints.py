"""The agent's merged page (``:15020/stats/prometheus``) holds Envoy's Istio metrics and the
agent's own gauges."""

from __future__ import annotations

import asyncio

from mainsail.cli.stat_metrics import parse_prometheus_text, series
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import scrape_merged


async def test_merged_page_has_envoy_and_agent_metrics(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    productpage = mesh.pod("productpage")
    status, _ = await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
    assert status == 200

    def merged() -> str:
        text = scrape_merged(productpage)
        return text if "istio_requests_total{" in text else ""

    text = await wait_for(merged, timeout=30, interval=0.5, message="merged page with Istio's")
    samples = parse_prometheus_text(text)
    assert series(samples, "istio_requests_total", reporter="destination")
    assert [s.value for s in series(samples, "istio_agent_envoy_ready")] == [1.0]
    assert [s.value for s in series(samples, "istio_agent_scrape_failed")] == [0.0]
    # Envoy's own statistics come along, as pilot-agent's merge has them.
    assert any(s.name.startswith("envoy_cluster_") for s in samples)
    again = await asyncio.to_thread(scrape_merged, productpage)
    assert again.count("# TYPE istio_agent_envoy_ready gauge") == 1
