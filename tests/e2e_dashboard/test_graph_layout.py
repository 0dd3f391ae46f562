"""The graph's layout for a 50-service mesh, run in Chromium from the dashboard's own modules:
readable (nothing overlaps, versions inside their app box, calls left to right) and
deterministic (the API's order does not matter)."""

from __future__ import annotations

from typing import Any

from tests.e2e_dashboard.conftest import DashboardPage

TIERS = (4, 12, 24, 10)  # frontends, mid-tier, backends, stores: 50 services


def fifty_service_graph() -> dict[str, Any]:
    """A graph document as /api/graph answers it: gateway → frontends → … → stores."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    gateway = "gateway:istio-system/istio-ingressgateway"
    nodes.append({"id": "unknown", "kind": "unknown", "name": "unknown"})
    nodes.append({"id": gateway, "kind": "gateway", "namespace": "istio-system",
                  "name": "istio-ingressgateway"})  # fmt: skip
    tiers: list[list[str]] = []
    index = 0
    for size in TIERS:
        names = []
        for _ in range(size):
            ns = ("shop", "payments", "catalog")[index % 3]
            name = f"svc-{index:02d}"
            service = f"service:{ns}/{name}"
            nodes.append({"id": service, "kind": "service", "namespace": ns, "name": name})
            nodes.append({"id": f"app:{ns}/{name}", "kind": "app", "namespace": ns, "name": name})
            for version in ("v1", "v2") if index % 6 == 0 else ("v1",):
                workload = f"workload:{ns}/{name}-{version}"
                nodes.append({"id": workload, "kind": "workload", "namespace": ns,
                              "name": f"{name}-{version}", "app": name, "version": version,
                              "parent": f"app:{ns}/{name}"})  # fmt: skip
                edges.append(_edge(service, workload, 1.0))
            names.append(service)
            index += 1
        tiers.append(names)
    edges.append(_edge("unknown", gateway, 8.0))
    for service in tiers[0]:
        edges.append(_edge(gateway, service, 2.0))
    for caller_tier, callee_tier, fan in ((0, 1, 3), (1, 2, 2), (2, 3, 1)):
        for i, caller in enumerate(tiers[caller_tier]):
            workload = caller.replace("service:", "workload:") + "-v1"
            for k in range(fan):
                callee = tiers[callee_tier][(i * fan + k) % len(tiers[callee_tier])]
                edges.append(_edge(workload, callee, 0.5, error_rate=0.2 if k == 1 else 0.0))
    nodes.append({"id": "external:api.stripe.com", "kind": "external", "name": "api.stripe.com"})
    edges.append(_edge(tiers[2][0].replace("service:", "workload:") + "-v1",
                       "external:api.stripe.com", 0.2))  # fmt: skip
    return {"window_seconds": 60, "nodes": nodes, "edges": edges}


def _edge(source: str, target: str, rps: float, *, error_rate: float = 0.0) -> dict[str, Any]:
    return {"id": f"{source}>{target}", "source": source, "target": target, "protocol": "http",
            "rps": rps, "error_rate": error_rate, "p50_ms": 3.0, "p99_ms": 12.0,
            "mtls": not source.startswith("unknown"), "mtls_percent": 100.0,
            "response_codes": {"200": rps}, "response_flags": {}}  # fmt: skip


# Lays the document out twice (as given, and reversed), draws it in the page, and measures.
MEASURE = """async (graph) => {
  const { layoutGraph } = await import("./static/js/graph_layout.js");
  const { drawGraph, legend } = await import("./static/js/graph_draw.js");
  const layout = layoutGraph(graph);
  const reversed = layoutGraph({ ...graph, nodes: [...graph.nodes].reverse(), edges: [...graph.edges].reverse() });
  const same = [...layout.nodes].every(([id, box]) => JSON.stringify(reversed.nodes.get(id)) === JSON.stringify(box));
  const boxes = [...layout.nodes.entries()];
  const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  let nodeOverlaps = 0;
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) if (overlap(boxes[i][1], boxes[j][1])) nodeOverlaps++;
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  let outsideApp = 0;
  for (const [id, box] of boxes) {
    const parent = byId.get(id).parent;
    if (!parent) continue;
    const group = layout.groups.find((g) => g.id === parent);
    if (!group || !(group.x <= box.x && box.x + box.w <= group.x + group.w && group.y <= box.y && box.y + box.h <= group.y + group.h)) outsideApp++;
  }
  let backwards = 0;
  for (const edge of graph.edges) if (layout.nodes.get(edge.target).x <= layout.nodes.get(edge.source).x) backwards++;
  const view = drawGraph(graph, layout, () => {});
  const root = document.getElementById("page");
  const canvas = document.createElement("div");
  canvas.className = "graph-canvas";
  canvas.dataset.testid = "graph";
  canvas.append(view.svg);
  root.replaceChildren(canvas, legend());
  view.fitTexts();
  const labels = [...view.svg.querySelectorAll(".edge-label-box")].map((r) => r.getBoundingClientRect());
  let labelOverlaps = 0;
  for (let i = 0; i < labels.length; i++)
    for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i], b = labels[j];
      if (a.left < b.right - 2 && b.left < a.right - 2 && a.top < b.bottom - 2 && b.top < a.bottom - 2) labelOverlaps++;
    }
  const fontSizes = [...view.svg.querySelectorAll("text")].map((t) => parseFloat(getComputedStyle(t).fontSize));
  return {
    same, nodeOverlaps, outsideApp, backwards, labelOverlaps, labels: labels.length,
    nodes: layout.nodes.size, groups: layout.groups.length, width: layout.width, height: layout.height,
    minFont: Math.min(...fontSizes),
    drawnNodes: view.svg.querySelectorAll(".node").length,
    drawnEdges: view.svg.querySelectorAll(".edge").length,
  };
}"""


def test_a_50_service_graph_is_readable_and_deterministic(dashboard: DashboardPage) -> None:
    graph = fifty_service_graph()
    page = dashboard.open("/graph?refresh=3600")
    page.wait_for_selector(dashboard.testid("graph"))
    result = page.evaluate(MEASURE, graph)
    services = sum(1 for n in graph["nodes"] if n["kind"] == "service")
    assert services == 50
    drawn = [n for n in graph["nodes"] if n["kind"] != "app"]
    assert result["nodes"] == result["drawnNodes"] == len(drawn), result
    assert result["drawnEdges"] == len(graph["edges"]), result
    assert result["groups"] == 50, result
    assert result["same"], "the layout depends on the order of the API's lists"
    assert result["nodeOverlaps"] == 0, result
    assert result["outsideApp"] == 0, result
    assert result["backwards"] == 0, result  # every call drawn left to right
    assert result["labelOverlaps"] <= result["labels"] // 20, result
    assert result["minFont"] >= 10, result
    # The screenshot shows the whole drawing at 100 %.
    page.set_viewport_size(
        {
            "width": min(4000, int(result["width"]) + 80),
            "height": min(4000, int(result["height"]) + 200),
        }
    )
