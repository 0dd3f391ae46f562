"""The mesh, service and workload pages: golden signals over time as charts with axes and
values, and inbound/outbound tables that link to each other."""

from __future__ import annotations

from tests.e2e_dashboard.conftest import DashboardPage

CHARTS = ("chart-rps", "chart-error-rate", "chart-latency")
# True once the chart has at least `n` measured points drawn as a line.
CHART_POINTS = """([testid, n]) => {
  const chart = document.querySelector(`[data-testid="${testid}"]`);
  return chart !== null && Number(chart.dataset.points) >= n && chart.querySelector("path.series") !== null;
}"""


def test_a_service_page_charts_its_golden_signals(dashboard: DashboardPage) -> None:
    page = dashboard.open("/services/default/reviews?refresh=1")
    for chart in CHARTS:
        page.wait_for_function(CHART_POINTS, arg=[chart, 2], timeout=60_000)
        ticks = page.locator(f"{dashboard.testid(chart)} text.tick")
        # Both axes carry values: times along x, figures up y.
        assert page.locator(f"{dashboard.testid(chart)} text.tick.x").count() >= 2
        assert ticks.count() >= 4
    latest = page.text_content(dashboard.testid("chart-rps-latest-rps")) or ""
    assert latest.startswith("rps ") and float(latest.split()[1]) > 0, latest
    assert page.locator(dashboard.testid("chart-latency-latest-p99")).count() == 1
    rps = float(page.get_attribute(dashboard.testid("signal-rps"), "data-value") or 0)
    assert rps > 0
    page.wait_for_selector(dashboard.testid("inbound-workload-default-productpage-v1"))
    workloads = page.inner_text(dashboard.testid("workloads"))
    assert {"reviews-v1", "reviews-v2", "reviews-v3"} <= set(workloads.split()), workloads


def test_the_mesh_page_lists_services_and_charts_the_mesh(dashboard: DashboardPage) -> None:
    page = dashboard.open("/mesh?refresh=1")
    page.wait_for_selector(dashboard.testid("services-table"))
    # The summary has no history: the page charts what it saw while open.
    page.wait_for_function(CHART_POINTS, arg=["chart-rps", 2], timeout=30_000)
    assert float(page.get_attribute(dashboard.testid("signal-rps"), "data-value") or 0) > 0
    row = dashboard.testid("services-table-service-default-ratings")
    page.click(f"{row} a")
    page.wait_for_url("**/#/services/default/ratings*")
    page.wait_for_selector(dashboard.testid("inbound-workload-default-reviews-v2"))
    page.click(f"{dashboard.testid('inbound-workload-default-reviews-v2')} a")
    page.wait_for_url("**/#/workloads/default/reviews-v2*")
    page.wait_for_selector(dashboard.testid("outbound-service-default-ratings"))
    page.wait_for_function(CHART_POINTS, arg=["chart-rps", 2], timeout=60_000)
