"""The book's ServiceGraph formats (Istio 1.0 addons/servicegraph): /graph, /d3graph, /dotgraph;
the DOT must be something Graphviz accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mainsail.dashboard.metrics_window import MetricsWindow, reduce_scrape
from mainsail.dashboard.servicegraph import (
    ServiceGraph,
    ServiceGraphFilter,
    build_service_graph,
    d3_json,
    dot_text,
    graph_json,
)
from tests.dashboard.synthetic import Page, caller, server

PRODUCTPAGE = caller("default", "productpage-v1", "productpage")
REVIEWS = server("default", "reviews-v1", "reviews", "reviews")
DETAILS = server("default", "details-v1", "details", "details")
ECHO = server("default", "tcp-echo-v1", "tcp-echo", "tcp-echo")


def window() -> MetricsWindow:
    found = MetricsWindow(history=600, interval=1)
    for t in range(5):
        page = Page().requests(2 * t, **PRODUCTPAGE, **REVIEWS)
        page.requests(0, **PRODUCTPAGE, **DETAILS)  # exists, never moves
        page.requests(7 * t, reporter="source", **PRODUCTPAGE, **REVIEWS)  # not ServiceGraph's
        page.tcp(t, 64 * t, **caller("default", "sleep", "sleep"), **ECHO)
        found.ingest(float(t), {"p": reduce_scrape(page.text())})
    return found


def graph(options: ServiceGraphFilter | None = None) -> ServiceGraph:
    w = window()
    return build_service_graph(w.totals(300), options or ServiceGraphFilter(), w.known_series())


def test_graph_json_is_servicegraphs_dynamic() -> None:
    found = graph_json(graph())
    assert found["nodes"] == {
        "details (details-v1)": {},
        "productpage (productpage-v1)": {},
        "reviews (reviews-v1)": {},
        "sleep (sleep)": {},
        "tcp-echo (tcp-echo-v1)": {},
    }
    assert found["edges"] == [
        {"source": "productpage (productpage-v1)", "target": "details (details-v1)",
         "labels": {"reqs/sec": "0.000000"}},
        {"source": "productpage (productpage-v1)", "target": "reviews (reviews-v1)",
         "labels": {"reqs/sec": "2.000000"}},
        {"source": "sleep (sleep)", "target": "tcp-echo (tcp-echo-v1)",
         "labels": {"bytes/sec": "64.000000"}},
    ]  # fmt: skip


def test_filter_empty_drops_edges_without_traffic() -> None:
    found = graph_json(graph(ServiceGraphFilter(filter_empty=True)))
    assert "details (details-v1)" not in found["nodes"]
    assert len(found["edges"]) == 2


def test_workload_and_namespace_filters() -> None:
    only = graph_json(graph(ServiceGraphFilter(destination_workload="reviews-v1")))
    assert [e["target"] for e in only["edges"]] == ["reviews (reviews-v1)"]
    none = graph_json(graph(ServiceGraphFilter(source_namespace="elsewhere")))
    assert none == {"nodes": {}, "edges": []}


def test_d3_links_index_the_nodes() -> None:
    found = d3_json(graph())
    names = [n["name"] for n in found["nodes"]]
    pairs = {(names[link["source"]], names[link["target"]]) for link in found["links"]}
    assert ("productpage (productpage-v1)", "reviews (reviews-v1)") in pairs
    assert all(set(link) == {"source", "target", "labels"} for link in found["links"])


def test_dot_is_istios_and_graphviz_parses_it() -> None:
    text = dot_text(graph())
    assert text.startswith('digraph "istio-servicegraph" {\n')
    assert (
        '"productpage_(productpage-v1)" -> "reviews_(reviews-v1)" [label="reqs/sec: 2.000000"];'
        in text
    )
    assert '"reviews_(reviews-v1)" [label="reviews (reviews-v1)"];' in text
    dot = shutil.which("dot")
    if dot is None:
        pytest.fail("Graphviz `dot` is not installed (scripts/test.sh installs it)")
    result = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout
    assert result.stdout.count('class="node"') == 5 and result.stdout.count('class="edge"') == 3


def test_dot_quotes_odd_names() -> None:
    odd = build_service_graph(MetricsWindow().totals(60), ServiceGraphFilter())
    assert dot_text(odd) == 'digraph "istio-servicegraph" {\n}\n'
    quoted = dot_text(ServiceGraph(nodes=('a "b" (c)',), edges=()))
    assert '"a_\\"b\\"_(c)" [label="a \\"b\\" (c)"];' in quoted
