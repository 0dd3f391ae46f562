"""The service graph page on the live demo: nodes, rates, traffic shifting, faults, clicks."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import FloatRect

from mainsail.testing.mesh import LocalMesh
from tests.e2e_dashboard.conftest import DashboardPage, cli

GATEWAY = "gateway:istio-system/istio-ingressgateway"
BOOKINFO_NODES = [
    GATEWAY,
    "service:default/productpage",
    "service:default/details",
    "service:default/reviews",
    "service:default/ratings",
    "workload:default/productpage-v1",
    "workload:default/details-v1",
    "workload:default/reviews-v1",
    "workload:default/reviews-v2",
    "workload:default/reviews-v3",
    "workload:default/ratings-v1",
    "app:default/reviews",
]
BOOKINFO_EDGES = [
    f"{GATEWAY}>service:default/productpage",
    "service:default/productpage>workload:default/productpage-v1",
    "workload:default/productpage-v1>service:default/reviews",
    "workload:default/productpage-v1>service:default/details",
    "service:default/reviews>workload:default/reviews-v2",
    "workload:default/reviews-v2>service:default/ratings",
]
# The graph refreshes every second in these tests; rates change within the 1 m window.
RATES_WITHIN_MS = 90_000

# True when every listed edge is drawn with a rate above zero.
EDGES_FLOWING = """(ids) => ids.every((id) => {
  const edge = document.querySelector(`[data-testid="edge-${id}"]`);
  return edge !== null && Number(edge.dataset.rps) > 0;
})"""


def edge_rps(dashboard: DashboardPage, edge_id: str) -> float:
    value = dashboard.page.get_attribute(dashboard.testid(f"edge-{edge_id}"), "data-rps")
    return float(value or 0)


def node_box(dashboard: DashboardPage, node_id: str) -> FloatRect:
    box = dashboard.page.locator(dashboard.testid(f"node-{node_id}")).bounding_box()
    assert box is not None, f"node {node_id} is not drawn"
    return box


def test_graph_shows_the_bookinfo_nodes_and_edges_with_rates(dashboard: DashboardPage) -> None:
    page = dashboard.open("/graph?refresh=1")
    for node in BOOKINFO_NODES:
        page.wait_for_selector(dashboard.testid(f"node-{node}"))
    page.wait_for_function(EDGES_FLOWING, arg=BOOKINFO_EDGES, timeout=RATES_WITHIN_MS)
    # Versions are drawn inside their app's box; kinds are told apart and explained.
    box = node_box(dashboard, "app:default/reviews")
    v3 = node_box(dashboard, "workload:default/reviews-v3")
    assert box["x"] <= v3["x"] and v3["x"] + v3["width"] <= box["x"] + box["width"]
    assert box["y"] <= v3["y"] and v3["y"] + v3["height"] <= box["y"] + box["height"]
    # Left to right by call depth: gateway, productpage, reviews, its versions, ratings.
    order = [
        GATEWAY,
        "service:default/productpage",
        "workload:default/productpage-v1",
        "service:default/reviews",
        "workload:default/reviews-v2",
        "service:default/ratings",
    ]
    xs = [node_box(dashboard, n)["x"] for n in order]
    assert xs == sorted(xs) and len(set(xs)) == len(xs), xs
    legend = page.inner_text(dashboard.testid("legend"))
    for word in ("gateway", "service", "workload", "external", "unknown", "mTLS"):
        assert word in legend
    # Mutual TLS between sidecars (Istio's auto mTLS): the padlock is shown on the edge.
    edge = page.locator(dashboard.testid(f"edge-{BOOKINFO_EDGES[2]}"))
    assert edge.get_attribute("data-mtls") == "true"
    label = page.locator(".edge-label", has_text="rps").first.text_content() or ""
    assert "rps" in label and "err" in label, label


def test_refreshes_do_not_move_the_graph(dashboard: DashboardPage) -> None:
    page = dashboard.open("/graph?refresh=1")
    page.wait_for_function(EDGES_FLOWING, arg=BOOKINFO_EDGES, timeout=RATES_WITHIN_MS)
    canvas = page.locator(dashboard.testid("graph"))
    before = int(canvas.get_attribute("data-updates") or 0)
    layouts = canvas.get_attribute("data-layouts")
    positions = page.eval_on_selector_all(
        ".node", "(nodes) => nodes.map((n) => [n.dataset.id, n.getAttribute('transform')])"
    )
    page.wait_for_function(
        "(n) => Number(document.querySelector('[data-testid=graph]').dataset.updates) >= n",
        arg=before + 3,
    )
    # Three refreshes of the same topology: the same drawing, only figures rewritten.
    assert canvas.get_attribute("data-layouts") == layouts
    after = page.eval_on_selector_all(
        ".node", "(nodes) => nodes.map((n) => [n.dataset.id, n.getAttribute('transform')])"
    )
    assert after == positions


def test_shifting_reviews_to_v3_moves_traffic_onto_its_edge(
    dashboard: DashboardPage, mesh: LocalMesh
) -> None:
    page = dashboard.open("/graph?refresh=1")
    to = "service:default/reviews>workload:default/reviews-"
    page.wait_for_function(EDGES_FLOWING, arg=[f"{to}v1", f"{to}v3"], timeout=RATES_WITHIN_MS)
    shares_before = {v: edge_rps(dashboard, f"{to}{v}") for v in ("v1", "v2", "v3")}
    samples = Path(__file__).resolve().parents[2] / "samples" / "bookinfo" / "networking"
    cli(mesh, "apply", "-f", str(samples / "virtual-service-reviews-v3.yaml"))
    # Within the window, v3 carries more than v1 and v2 together (before: about a third).
    page.wait_for_function(
        """(to) => {
          const rps = (v) => Number(document.querySelector(`[data-testid="edge-${to}${v}"]`)?.dataset.rps ?? 0);
          return rps("v3") > 0 && rps("v3") > 1.5 * (rps("v1") + rps("v2"));
        }""",
        arg=to,
        timeout=RATES_WITHIN_MS,
    )
    # Before, v3 did not carry that (equal shares would give v3 half of v1 + v2; the first
    # scrapes' rates are of a few requests each, so only the post-shift bar is asserted).
    assert shares_before["v3"] <= 1.5 * (shares_before["v1"] + shares_before["v2"]), shares_before
    label = page.locator(dashboard.testid(f"edge-{to}v3")).get_attribute("data-rps")
    assert float(label or 0) > 0


def test_a_fault_makes_the_error_rate_visible(dashboard: DashboardPage, mesh: LocalMesh) -> None:
    page = dashboard.open("/graph?refresh=1")
    page.wait_for_selector(dashboard.testid("node-service:default/ratings"))
    cli(mesh, "apply", "-f", str(_write_abort(mesh)))
    callers = [
        "workload:default/reviews-v2>service:default/ratings",
        "workload:default/reviews-v3>service:default/ratings",
    ]
    # An edge into ratings turns red with its error rate printed on it.
    page.wait_for_function(
        """(ids) => ids.some((id) => {
          const edge = document.querySelector(`[data-testid="edge-${id}"]`);
          return edge && Number(edge.dataset.errorRate) > 0 && edge.classList.contains("has-errors");
        })""",
        arg=callers,
        timeout=RATES_WITHIN_MS,
    )
    failing = next(
        c
        for c in callers
        if float(page.get_attribute(dashboard.testid(f"edge-{c}"), "data-error-rate") or 0) > 0
    )
    stroke = page.eval_on_selector(
        f"{dashboard.testid(f'edge-{failing}')} .edge-line", "(e) => getComputedStyle(e).stroke"
    )
    assert stroke == "rgb(217, 45, 32)", stroke
    page.click(dashboard.testid(f"edge-{failing}") + " .edge-hit", force=True)
    panel = page.locator(dashboard.testid("panel"))
    panel.wait_for(state="visible")
    assert "ratings" in panel.inner_text()
    error_cell = panel.locator("td.bad")
    assert error_cell.count() == 1 and error_cell.inner_text().endswith("%")
    assert "500" in panel.inner_text()  # the response codes


def _write_abort(mesh: LocalMesh) -> Path:
    path = mesh.home.root / "ratings-abort-all.yaml"
    path.write_text(
        """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - fault:
      abort:
        percentage: {value: 100}
        httpStatus: 500
    route:
    - destination: {host: ratings, subset: v1}
""",
        encoding="utf-8",
    )
    return path


def test_clicking_a_node_opens_its_panel_and_its_page(dashboard: DashboardPage) -> None:
    page = dashboard.open("/graph?refresh=1")
    node = dashboard.testid("node-service:default/reviews")
    page.wait_for_selector(node)
    page.click(node)
    panel = page.locator(dashboard.testid("panel"))
    panel.wait_for(state="visible")
    assert page.inner_text(dashboard.testid("panel-title")) == "reviews"
    for figure in ("requests", "error rate", "p50 latency", "p99 latency"):
        assert figure in panel.inner_text()
    page.wait_for_selector(f"{dashboard.testid('panel')} >> text=productpage-v1")
    panel.locator(dashboard.testid("panel-link")).first.click()
    page.wait_for_url("**/#/services/default/reviews*")
    assert page.inner_text(dashboard.testid("page-title")) == "reviews"
    page.wait_for_selector(dashboard.testid("chart-rps"))
    # The inbound table links back to the caller's own page.
    page.wait_for_selector(dashboard.testid("inbound-workload-default-productpage-v1"))
    page.click(f"{dashboard.testid('inbound-workload-default-productpage-v1')} a")
    page.wait_for_url("**/#/workloads/default/productpage-v1*")
    page.wait_for_selector(dashboard.testid("outbound-service-default-reviews"))


def test_the_window_selector_asks_for_that_window(dashboard: DashboardPage) -> None:
    page = dashboard.open("/graph?refresh=60")
    page.wait_for_selector(dashboard.testid("node-service:default/reviews"))
    with page.expect_request(lambda r: "/api/graph" in r.url and "window=15m" in r.url):
        page.select_option(dashboard.testid("window-select"), "15m")
    page.wait_for_selector('[data-testid="graph"][data-window="15m"]')
    assert "window=15m" in page.url
