"""The service graph from synthetic scrapes: Kiali's versioned-app nodes, edges by reporter,
rates over the window, errors, latency quantiles, mTLS, gateway / unknown / external nodes."""

from __future__ import annotations

from typing import Any

from mainsail.dashboard.graph import MeshInventory, build_graph
from mainsail.dashboard.metrics_window import MetricsWindow, PodScrape, reduce_scrape
from tests.dashboard.synthetic import Page, caller, server

GATEWAY = caller("istio-system", "istio-ingressgateway", "istio-ingressgateway")
PRODUCTPAGE = caller("default", "productpage-v1", "productpage")
PRODUCTPAGE_SERVER = server("default", "productpage-v1", "productpage", "productpage")
REVIEWS_V1 = server("default", "reviews-v1", "reviews", "reviews", "v1")
REVIEWS_V3 = server("default", "reviews-v3", "reviews", "reviews", "v3")
INVENTORY = MeshInventory(
    gateways=frozenset({("istio-system", "istio-ingressgateway")}),
    external_hosts=frozenset({"api.example.com"}),
)
MTLS = {"connection_security_policy": "mutual_tls"}


def pages(n: int) -> dict[str, PodScrape]:
    """The mesh after ``n`` rounds of one request each second: gateway → productpage →
    reviews (v1 ok, v3 failing half the time), plus a curl with no proxy and an egress call."""
    gateway = Page().requests(2 * n, reporter="source", **GATEWAY, **PRODUCTPAGE_SERVER)
    gateway.durations([20.0] * n, reporter="source", **GATEWAY, **PRODUCTPAGE_SERVER)
    productpage = Page()
    productpage.requests(2 * n, **GATEWAY, **PRODUCTPAGE_SERVER, **MTLS)
    productpage.requests(n, reporter="destination", **PRODUCTPAGE_SERVER, **MTLS)  # no proxy
    productpage.requests(2 * n, reporter="source", **PRODUCTPAGE, **REVIEWS_V1)
    productpage.requests(n, reporter="source", **PRODUCTPAGE, **REVIEWS_V3)
    productpage.requests(
        n, reporter="source", response_code="503", response_flags="UF", **PRODUCTPAGE, **REVIEWS_V3
    )
    productpage.durations(
        [4.0] * (3 * n) + [700.0] * n, reporter="source", **PRODUCTPAGE, **REVIEWS_V1
    )
    productpage.requests(n, reporter="source", destination_service="api.example.com",
                         destination_service_name="api.example.com",
                         destination_service_namespace="default", **PRODUCTPAGE)  # fmt: skip
    productpage.requests(n, reporter="source", destination_service="httpbin.org",
                         destination_service_name="PassthroughCluster", **PRODUCTPAGE)  # fmt: skip
    reviews = Page()
    reviews.requests(2 * n, **PRODUCTPAGE, **REVIEWS_V1, **MTLS)
    reviews.requests(n, **PRODUCTPAGE, **REVIEWS_V3, **MTLS)
    reviews.requests(n, response_code="503", **PRODUCTPAGE, **REVIEWS_V3, **MTLS)
    return {
        "gw": reduce_scrape(gateway.text()),
        "pp": reduce_scrape(productpage.text()),
        "rv": reduce_scrape(reviews.text()),
    }


def graph(seconds: float = 60, namespace: str | None = None) -> dict[str, Any]:
    window = MetricsWindow(history=600, interval=1)
    for t in range(11):
        window.ingest(1000.0 + t, pages(t))
    return build_graph(window.totals(seconds), INVENTORY, namespace=namespace)


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def test_nodes_are_kialis_versioned_app_graph() -> None:
    nodes = by_id(graph()["nodes"])
    assert set(nodes) == {
        "gateway:istio-system/istio-ingressgateway",
        "workload:default/productpage-v1",
        "app:default/productpage",
        "service:default/productpage",
        "service:default/reviews",
        "workload:default/reviews-v1",
        "workload:default/reviews-v3",
        "app:default/reviews",
        "unknown",
        "external:api.example.com",
        "external:httpbin.org",
    }
    v3 = nodes["workload:default/reviews-v3"]
    assert (v3["kind"], v3["app"], v3["version"], v3["parent"]) == (
        "workload",
        "reviews",
        "v3",
        "app:default/reviews",
    )
    assert nodes["app:default/reviews"]["kind"] == "app"
    assert nodes["gateway:istio-system/istio-ingressgateway"]["kind"] == "gateway"
    assert nodes["external:httpbin.org"]["kind"] == "external"
    assert nodes["unknown"]["kind"] == "unknown"


def test_edges_follow_the_reporters_with_rates_over_the_window() -> None:
    edges = by_id(graph()["edges"])
    assert set(edges) == {
        "gateway:istio-system/istio-ingressgateway>service:default/productpage",
        "unknown>service:default/productpage",
        "service:default/productpage>workload:default/productpage-v1",
        "workload:default/productpage-v1>service:default/reviews",
        "service:default/reviews>workload:default/reviews-v1",
        "service:default/reviews>workload:default/reviews-v3",
        "workload:default/productpage-v1>external:api.example.com",
        "workload:default/productpage-v1>external:httpbin.org",
    }
    # 10 s of 2 requests a second from the gateway (its own report), 1/s from the curl.
    assert (
        edges["gateway:istio-system/istio-ingressgateway>service:default/productpage"]["rps"] == 2.0
    )
    assert edges["unknown>service:default/productpage"]["rps"] == 1.0
    # The server's side sees both callers.
    assert edges["service:default/productpage>workload:default/productpage-v1"]["rps"] == 3.0
    assert edges["workload:default/productpage-v1>service:default/reviews"]["rps"] == 4.0


def test_errors_codes_and_flags() -> None:
    edges = by_id(graph()["edges"])
    caller_edge = edges["workload:default/productpage-v1>service:default/reviews"]
    assert caller_edge["error_rate"] == 0.25
    assert caller_edge["response_codes"] == {"200": 3.0, "503": 1.0}
    assert caller_edge["response_flags"] == {"UF": 1.0}
    assert edges["service:default/reviews>workload:default/reviews-v3"]["error_rate"] == 0.5
    assert edges["service:default/reviews>workload:default/reviews-v1"]["error_rate"] == 0.0
    nodes = by_id(graph()["nodes"])
    # A node's figures are its inbound edges'; an app box sums its workloads.
    assert nodes["workload:default/reviews-v3"]["rps"] == 2.0
    assert nodes["app:default/reviews"]["rps"] == 4.0
    assert nodes["app:default/reviews"]["error_rate"] == 0.25


def test_latency_quantiles_come_from_the_buckets() -> None:
    edges = by_id(graph()["edges"])
    edge = edges["workload:default/productpage-v1>service:default/reviews"]
    # 3/4 of requests at 4 ms (bucket 1-5), 1/4 at 700 ms (bucket 500-1000): PromQL's
    # interpolation puts p50 inside 1-5 and p99 inside 500-1000.
    assert 1 < edge["p50_ms"] <= 5
    assert 500 < edge["p99_ms"] <= 1000
    # Nobody measured the latency of the curl's requests: null, not 0.
    assert edges["unknown>service:default/productpage"]["p50_ms"] is None


def test_mtls_is_the_servers_word() -> None:
    edges = by_id(graph()["edges"])
    # The client reports connection_security_policy="unknown"; the server's reports of the same
    # caller and service say mutual_tls.
    caller_edge = edges["workload:default/productpage-v1>service:default/reviews"]
    assert caller_edge["mtls"] is True and caller_edge["mtls_percent"] == 100.0
    assert edges["service:default/reviews>workload:default/reviews-v1"]["mtls"] is True
    # Nothing reported the egress call from the server side: unknown.
    egress = edges["workload:default/productpage-v1>external:httpbin.org"]
    assert egress["mtls"] is False and egress["mtls_percent"] is None


def test_partial_mtls() -> None:
    window = MetricsWindow(history=600, interval=1)
    for t in range(3):
        page = Page()
        page.requests(t, **PRODUCTPAGE, **REVIEWS_V1, **MTLS)
        page.requests(3 * t, connection_security_policy="none", **PRODUCTPAGE, **REVIEWS_V1)
        window.ingest(float(t), {"rv": reduce_scrape(page.text())})
    edges = by_id(build_graph(window.totals(60), INVENTORY)["edges"])
    edge = edges["service:default/reviews>workload:default/reviews-v1"]
    assert edge["mtls_percent"] == 25.0 and edge["mtls"] is False


def test_a_short_window_sees_only_recent_traffic() -> None:
    window = MetricsWindow(history=600, interval=1)
    window.ingest(
        0.0, {"rv": reduce_scrape(Page().requests(0, **PRODUCTPAGE, **REVIEWS_V1).text())}
    )
    window.ingest(
        1.0, {"rv": reduce_scrape(Page().requests(100, **PRODUCTPAGE, **REVIEWS_V1).text())}
    )
    for t in range(2, 12):
        window.ingest(
            float(t),
            {"rv": reduce_scrape(Page().requests(100 + t, **PRODUCTPAGE, **REVIEWS_V1).text())},
        )
    [old] = build_graph(window.totals(60), INVENTORY)["edges"][:1]
    assert old["rps"] == round((100 + 11) / 11, 4)
    [recent] = build_graph(window.totals(5), INVENTORY)["edges"][:1]
    assert recent["rps"] == 1.0


def test_tcp_edges() -> None:
    echo = server("default", "tcp-echo-v1", "tcp-echo", "tcp-echo")
    sleep = caller("default", "sleep", "sleep")
    window = MetricsWindow(history=600, interval=1)
    for t in range(3):
        client = Page().tcp(t, 100 * t, reporter="source", **sleep, **echo)
        # TCP has no peer exchange: the server does not know the caller's workload, only its
        # certificate; that is a mesh caller (reported by its own proxy), not "unknown".
        anonymous = {k: v for k, v in sleep.items() if k != "source_principal"}
        srv = Page().tcp(t, 100 * t, source_principal=sleep["source_principal"],
                         **{k: "unknown" for k in anonymous}, **echo, **MTLS)  # fmt: skip
        window.ingest(
            float(t), {"sleep": reduce_scrape(client.text()), "echo": reduce_scrape(srv.text())}
        )
    edges = by_id(build_graph(window.totals(60), INVENTORY)["edges"])
    assert set(edges) == {
        "workload:default/sleep>service:default/tcp-echo",
        "service:default/tcp-echo>workload:default/tcp-echo-v1",
    }
    edge = edges["workload:default/sleep>service:default/tcp-echo"]
    assert edge["protocol"] == "tcp"
    assert edge["tcp_bytes_per_second"] == 100.0
    assert edge["tcp_connections_per_second"] == 1.0
    assert edge["mtls"] is True


def test_namespace_filter_keeps_edges_touching_it() -> None:
    found = graph(namespace="istio-system")
    assert [e["id"] for e in found["edges"]] == [
        "gateway:istio-system/istio-ingressgateway>service:default/productpage"
    ]
    assert {n["id"] for n in found["nodes"]} == {
        "gateway:istio-system/istio-ingressgateway",
        "service:default/productpage",
    }


def test_an_empty_window_is_an_empty_graph() -> None:
    assert build_graph(MetricsWindow().totals(60), INVENTORY) == {"nodes": [], "edges": []}
