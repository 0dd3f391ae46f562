"""The dashboard's HTTP API over a fixed mesh (no processes): each route's shape, and the 400
(naming the parameter) and 404 paths."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mainsail.dashboard.app import build_dashboard_app
from tests.dashboard.fake_mesh import TRACE_ID, sources

Client = TestClient[Any, Any]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    found: Client = TestClient(TestServer(build_dashboard_app(sources(tmp_path / "static"))))
    await found.start_server()
    try:
        yield found
    finally:
        await found.close()


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


async def error_of(client: Client, path: str, status: int) -> str:
    body = await get_json(client, path, status)
    [error] = body["errors"]
    return str(error["message"])


async def test_graph(client: Client) -> None:
    body = await get_json(client, "/api/graph?window=10s")
    assert body["window_seconds"] == 10 and body["source"] == "scrape"
    assert body["generated_at"].endswith("Z")
    edges = {e["id"]: e for e in body["edges"]}
    edge = edges["workload:default/productpage-v1>service:default/reviews"]
    assert edge["rps"] == 2.0 and edge["mtls"] is True and edge["p50_ms"] is not None
    served = edges["service:default/reviews>workload:default/reviews-v1"]
    assert 0 < served["error_rate"] < 0.5
    kinds = {n["id"]: n["kind"] for n in body["nodes"]}
    assert kinds["gateway:istio-system/istio-ingressgateway"] == "gateway"
    only = await get_json(client, "/api/graph?namespace=istio-system")
    assert len(only["edges"]) == 1


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/graph?window=soon", "window"),
        ("/api/graph?window=0", "window"),
        ("/api/graph?window=2h", "window"),
        ("/api/summary?window=-1m", "window"),
        ("/api/services/default/reviews?range=forever", "range"),
        ("/api/workloads/default/reviews-v1?window=1y", "window"),
        ("/api/config?kind=Nope", "kind"),
        ("/api/traces?limit=0", "limit"),
        ("/api/traces?limit=many", "limit"),
        ("/graph?time_horizon=5", "time_horizon"),
        ("/d3graph?time_horizon=five", "time_horizon"),
        ("/dotgraph?filter_empty=yes", "filter_empty"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    client: Client, path: str, parameter: str
) -> None:
    message = await error_of(client, path, 400)
    assert f"'{parameter}'" in message


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/api/services/default/nosuch", "nosuch"),
        ("/api/workloads/default/nosuch", "nosuch"),
        ("/api/proxies/nosuch.default", "nosuch.default"),
        ("/api/proxies/nosuch.default/config_dump", "nosuch.default"),
        ("/api/traces/0123456789abcdef", "0123456789abcdef"),
        ("/api/nothing-here", "/api/nothing-here"),
    ],
)
async def test_unknown_names_are_404(client: Client, path: str, what: str) -> None:
    assert what in await error_of(client, path, 404)


async def test_summary(client: Client) -> None:
    body = await get_json(client, "/api/summary?window=10s&range=15s")
    assert body["mesh"]["rps"] > 0
    services = {f"{s['namespace']}/{s['name']}": s for s in body["services"]}
    assert services["default/reviews"]["rps"] == 2.5  # 2/s ok + 0.5/s 500s
    assert services["default/reviews"]["error_rate"] == 0.2
    assert [w["name"] for w in services["default/reviews"]["workloads"]] == ["reviews-v1"]
    # The mesh's own history, as a service's: the mesh page charts it from its first load.
    assert body["source"] == "scrape"
    points = body["series"]["rps"]
    assert len(points) >= 10 and all(len(p) == 2 for p in points)
    # 1/s into productpage, 2/s into reviews, plus a 500 every other second.
    assert {p[1] for p in points[-10:]} == {3.0, 4.0}


async def test_service_view(client: Client) -> None:
    body = await get_json(client, "/api/services/default/reviews?window=10s&range=15s")
    assert (body["namespace"], body["name"], body["source"]) == ("default", "reviews", "scrape")
    assert body["signals"]["rps"] == 2.5
    assert body["range_seconds"] == 15
    points = body["series"]["rps"]
    assert len(points) >= 10 and all(len(p) == 2 for p in points)
    # 2/s, plus a 500 every other second.
    assert {p[1] for p in points[-10:]} == {2.0, 3.0}
    assert [c["name"] for c in body["inbound"]] == ["productpage-v1"]
    assert body["inbound"][0]["kind"] == "workload"
    assert [w["name"] for w in body["workloads"]] == ["reviews-v1"]


async def test_workload_views(client: Client) -> None:
    body = await get_json(client, "/api/workloads/default/productpage-v1?window=10s")
    assert body["kind"] == "workload" and body["pods"] == ["productpage-v1-0"]
    assert [r["id"] for r in body["inbound"]] == ["gateway:istio-system/istio-ingressgateway"]
    assert [r["id"] for r in body["outbound"]] == ["service:default/reviews"]
    gateway = await get_json(client, "/api/workloads/istio-system/istio-ingressgateway?window=10s")
    assert gateway["kind"] == "gateway"
    assert gateway["signals"]["rps"] == 1.0  # what it sent
    listing = await get_json(client, "/api/workloads")
    assert {(w["namespace"], w["name"], w["kind"]) for w in listing["items"]} == {
        ("default", "reviews-v1", "workload"),
        ("default", "productpage-v1", "workload"),
        ("istio-system", "istio-ingressgateway", "gateway"),
    }
    services = await get_json(client, "/api/services")
    assert {s["name"] for s in services["items"]} == {"reviews", "productpage"}


async def test_config_view(client: Client) -> None:
    body = await get_json(client, "/api/config")
    items = {(i["kind"], i["name"]): i for i in body["items"]}
    broken = items[("VirtualService", "reviews")]
    assert broken["status"] == "error"
    assert any(f["code"] == "IST0101" and "reviewz" in f["message"] for f in broken["findings"])
    # Bound to the mesh: every sidecar that sees it; not the gateway.
    assert broken["proxies"] == ["productpage-v1-0.default", "reviews-v1-0.default"]
    bound = items[("VirtualService", "bookinfo")]
    assert bound["proxies"] == ["istio-ingressgateway-0.istio-system"]
    assert items[("Gateway", "bookinfo-gateway")]["proxies"] == [
        "istio-ingressgateway-0.istio-system"
    ]
    legacy = items[("Policy", "reviews-mtls")]
    assert legacy["legacy"] is True
    assert "kind: PeerAuthentication" in legacy["converted"]
    assert "reviews-v1-0.default" in legacy["proxies"]
    assert items[("Service", "reviews")]["converted"] is None
    assert "kind: Service" in items[("Service", "reviews")]["yaml"]
    only = await get_json(client, "/api/config?kind=vs&namespace=default")
    assert {i["kind"] for i in only["items"]} == {"VirtualService"}


async def test_proxies(client: Client) -> None:
    body = await get_json(client, "/api/proxies")
    rows = {r["proxy"]: r for r in body["items"]}
    reviews = rows["reviews-v1-0.default"]
    assert reviews["connected"] is True and reviews["type"] == "sidecar"
    assert reviews["types"]["LDS"] == {
        "state": "NACK", "sent_version": "b", "acked_version": "a", "error": "Invalid regex"}  # fmt: skip
    # No Envoy answers on these fake addresses: no certificate, not an error.
    assert reviews["certificate"] is None
    assert rows["istio-ingressgateway-0.istio-system"]["type"] == "router"
    assert rows["istio-ingressgateway-0.istio-system"]["connected"] is False
    one = await get_json(client, "/api/proxies/reviews-v1-0.default")
    assert one["proxy"] == "reviews-v1-0.default"


async def test_traces(client: Client) -> None:
    body = await get_json(client, "/api/traces?limit=5")
    [row] = body["items"]
    assert row["trace_id"] == TRACE_ID and row["spans"] == 2
    assert row["root"] == "productpage.default productpage:9080/*"
    assert row["duration_us"] == 9000
    one = await get_json(client, f"/api/traces/{TRACE_ID}")
    assert [s["span_id"] for s in one["spans"]] == ["a1", "b2"]
    assert one["spans"][1]["parent_id"] == "a1"
    assert (await get_json(client, "/api/traces?service=nobody"))["items"] == []


async def test_servicegraph_endpoints(client: Client) -> None:
    graph = await get_json(client, "/graph?time_horizon=1m")
    assert graph["edges"] and all(set(e) == {"source", "target", "labels"} for e in graph["edges"])
    d3 = await get_json(client, "/d3graph")
    assert {"nodes", "links"} == set(d3)
    dot = await client.get("/dotgraph?filter_empty=true")
    assert (await dot.text()).startswith('digraph "istio-servicegraph" {')
    png = await client.get("/dotviz")
    assert png.status == 200 and png.content_type == "image/png"
    assert (await png.read()).startswith(b"\x89PNG")
    page = await client.get("/force/forcegraph.html")
    html = await page.text()
    assert page.status == 200 and "d3graph" in html
    assert "src=" not in html  # self-contained: no script or style from elsewhere


async def test_dotviz_without_graphviz_is_503(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    assert "Graphviz" in await error_of(client, "/dotviz", 503)


async def test_static_files(client: Client, tmp_path: Path) -> None:
    placeholder = await client.get("/")
    assert placeholder.status == 200 and "/api/graph" in await placeholder.text()
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "index.html").write_text("<html>pages</html>")
    (static / "js" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    assert await (await client.get("/")).text() == "<html>pages</html>"
    assert await (await client.get("/static/js/app.js")).text() == "console.log(1)"
    assert (await client.get("/static/js/nope.js")).status == 404
    assert (await client.get("/static/..%2Fsecret.txt")).status == 404


async def test_graph_answers_are_computed_ahead_after_a_scrape(tmp_path: Path) -> None:
    from mainsail.dashboard.app import GRAPH_ANSWERS
    from mainsail.dashboard.metrics_window import reduce_scrape
    from tests.dashboard.synthetic import Page, caller, server

    found = sources(tmp_path)
    app = build_dashboard_app(found)
    answers = app[GRAPH_ANSWERS]
    first = await answers.answer(60.0, None)
    assert await answers.answer(60.0, None) is first  # the same scrape: the same answer
    latest = found.window.latest or 0.0
    page = Page().requests(
        1000, **caller("default", "productpage-v1"), **server("default", "reviews-v1", "reviews")
    )
    found.window.ingest(latest + 1, {"default.reviews-v1-0": reduce_scrape(page.text())})
    await answers.refresh()
    ahead = [body for key, body in answers._answers.items() if key[2] == latest + 1]
    assert len(ahead) == 1 and ahead[0] is not first
    assert await answers.answer(60.0, None) is ahead[0]


def test_mixer_kinds_are_legacy_and_affect_every_proxy() -> None:
    from importlib import resources

    from mainsail.config.mesh import MeshConfig
    from mainsail.config.parse import parse_documents
    from mainsail.dashboard.config_view import config_items
    from mainsail.snapshot.mesh_snapshot import build_snapshot
    from tests.dashboard.fake_mesh import CONFIG, pods

    book = resources.files("mainsail.samples.book.telemetry")
    text = "\n---\n".join(
        book.joinpath(name).read_text()
        for name in (
            "01-prometheus-handler.yaml",
            "02-metric-instances.yaml",
            "03-prometheus-rules.yaml",
        )
    )
    objects = parse_documents(CONFIG + "\n---\n" + text, "fake").resources
    items = config_items(objects, build_snapshot(objects, MeshConfig()), pods(), MeshConfig())
    mixer = [i for i in items if i["apiVersion"].startswith("config.istio.io/")]
    assert {i["kind"] for i in mixer} == {"handler", "metric", "rule"}  # the book's template kinds
    for item in mixer:
        assert item["legacy"] is True and "Telemetry API" in item["converted"]
        assert len(item["proxies"]) == 3
