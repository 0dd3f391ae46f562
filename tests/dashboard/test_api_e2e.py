"""The dashboard of a live demo mesh (BookInfo behind the ingress gateway, real Envoys scraped
every second): the graph shows BookInfo's nodes and edges with traffic, a fault injection shows
on the right edge, and each of the book's ServiceGraph endpoints answers in its format."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mainsail.cli.mesh import demo_files
from mainsail.testing.load import LoadLoop
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for

RATINGS_ABORT = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: default}
spec:
  hosts: [ratings]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: ratings}}]
"""

BOOKINFO_EDGES = {
    "gateway:istio-system/istio-ingressgateway>service:default/productpage",
    "service:default/productpage>workload:default/productpage-v1",
    "workload:default/productpage-v1>service:default/details",
    "workload:default/productpage-v1>service:default/reviews",
    "service:default/reviews>workload:default/reviews-v1",
    "service:default/reviews>workload:default/reviews-v2",
    "service:default/reviews>workload:default/reviews-v3",
    "workload:default/reviews-v2>service:default/ratings",
    "workload:default/reviews-v3>service:default/ratings",
    "service:default/ratings>workload:default/ratings-v1",
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh(
        demo_files(), tmp_path_factory.mktemp("dashboard"), dashboard_scrape_interval=1
    ) as found:
        yield found


async def get(mesh: LocalMesh, path: str) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(mesh.dashboard_url(path), timeout=aiohttp.ClientTimeout(total=30)) as r,
    ):
        return r.status, r.content_type, await r.read()


async def get_json(mesh: LocalMesh, path: str) -> Any:
    status, _, body = await get(mesh, path)
    assert status == 200, body
    return json.loads(body)


async def test_graph_shows_bookinfo_with_traffic(mesh: LocalMesh) -> None:
    async with LoadLoop(mesh.gateway_url("/productpage"), concurrency=2) as load:
        await load.wait_for(20, timeout=60)

        async def every_edge_moving() -> dict[str, Any] | None:
            graph = await get_json(mesh, "/api/graph?window=30s")
            edges = {e["id"]: e for e in graph["edges"]}
            moving = {i for i, e in edges.items() if e["rps"] > 0}
            return graph if moving >= BOOKINFO_EDGES else None

        graph = await wait_for(every_edge_moving, timeout=90, interval=1,
                               message="every BookInfo edge with rps > 0")  # fmt: skip
    assert load.result.failures == 0, load.result
    nodes = {n["id"]: n for n in graph["nodes"]}
    for app in ("productpage", "details", "reviews", "ratings"):
        assert nodes[f"app:default/{app}"]["kind"] == "app"
        assert nodes[f"service:default/{app}"]["rps"] > 0
    for version in ("v1", "v2", "v3"):
        workload = nodes[f"workload:default/reviews-{version}"]
        assert (workload["app"], workload["version"], workload["parent"]) == (
            "reviews", version, "app:default/reviews")  # fmt: skip
    assert nodes["gateway:istio-system/istio-ingressgateway"]["kind"] == "gateway"
    edges = {e["id"]: e for e in graph["edges"]}
    # Istio's default: auto mTLS between sidecars (PERMISSIVE servers); the gateway's too.
    assert edges["workload:default/productpage-v1>service:default/reviews"]["mtls"] is True
    assert edges["service:default/ratings>workload:default/ratings-v1"]["mtls"] is True
    served = edges["service:default/productpage>workload:default/productpage-v1"]
    assert served["error_rate"] == 0.0 and served["response_codes"].get("200", 0) > 0


async def test_fault_injection_shows_on_the_ratings_edges(mesh: LocalMesh, tmp_path: Path) -> None:
    path = tmp_path / "ratings-abort.yaml"
    path.write_text(RATINGS_ABORT)
    applied = await asyncio.to_thread(mesh.cli, "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr
    try:
        async with LoadLoop(mesh.gateway_url("/productpage"), concurrency=2):

            async def failing() -> dict[str, Any] | None:
                graph = await get_json(mesh, "/api/graph?window=5s")
                edges = {e["id"]: e for e in graph["edges"]}
                edge = edges.get("workload:default/reviews-v2>service:default/ratings")
                return edge if edge and (edge["error_rate"] or 0) > 0.9 else None

            edge = await wait_for(failing, timeout=90, interval=1,
                                  message="the aborted ratings calls in the graph")  # fmt: skip
            # Envoy's fault filter answered on the caller's side (flag FI, code 500): the
            # ratings server saw none of them.
            assert edge["response_codes"].get("500", 0) > 0
            assert "FI" in edge["response_flags"]
            graph = await get_json(mesh, "/api/graph?window=5s")
            edges = {e["id"]: e for e in graph["edges"]}
            assert (
                edges["workload:default/productpage-v1>service:default/details"]["error_rate"] == 0
            )
            served = edges.get("service:default/ratings>workload:default/ratings-v1")
            assert served is None or served["rps"] == 0 or served["error_rate"] == 0
    finally:
        await asyncio.to_thread(mesh.cli, "delete", "-f", str(path))


async def test_servicegraph_endpoints_answer_in_their_formats(mesh: LocalMesh) -> None:
    async with LoadLoop(mesh.gateway_url("/productpage"), concurrency=1) as load:
        await load.wait_for(5, timeout=60)

        async def with_edges() -> dict[str, Any] | None:
            graph = await get_json(mesh, "/graph?time_horizon=1m&filter_empty=true")
            return graph if graph["edges"] else None

        graph = await wait_for(with_edges, timeout=60, interval=1)
    assert "productpage (productpage-v1)" in graph["nodes"]
    assert any(
        e["source"] == "productpage (productpage-v1)"
        and e["target"] == "details (details-v1)"
        and float(e["labels"]["reqs/sec"]) > 0
        for e in graph["edges"]
    )
    d3 = await get_json(mesh, "/d3graph?time_horizon=1m")
    names = [n["name"] for n in d3["nodes"]]
    assert d3["links"] and all(0 <= link["source"] < len(names) for link in d3["links"])
    status, kind, dot = await get(mesh, "/dotgraph?time_horizon=1m")
    assert status == 200 and kind == "text/vnd.graphviz"
    assert dot.startswith(b'digraph "istio-servicegraph" {')
    program = shutil.which("dot")
    assert program is not None, "Graphviz `dot` is needed (scripts/test.sh installs it)"
    parsed = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, timeout=30)
    assert parsed.returncode == 0, parsed.stderr
    status, kind, png = await get(mesh, "/dotviz?time_horizon=1m")
    assert (status, kind) == (200, "image/png") and png.startswith(b"\x89PNG")
    status, kind, page = await get(mesh, "/force/forcegraph.html")
    assert (status, kind) == (200, "text/html") and b"d3graph" in page


async def test_views_and_the_cli(mesh: LocalMesh) -> None:
    proxies = await get_json(mesh, "/api/proxies")
    rows = {r["pod"].rsplit("-", 2)[0]: r for r in proxies["items"]}
    productpage = rows["productpage-v1"]
    assert productpage["connected"] and productpage["types"]["CDS"]["state"] == "SYNCED"
    assert 0 < productpage["certificate"]["expires_in_seconds"] <= 3600
    dump = await get_json(mesh, f"/api/proxies/{productpage['proxy']}/config_dump")
    assert "configs" in dump
    config = await get_json(mesh, "/api/config?kind=Gateway")
    [gateway] = config["items"]
    assert gateway["status"] == "valid"
    assert [p.split("-")[0] for p in gateway["proxies"]] == ["istio"]
    printed = await asyncio.to_thread(mesh.cli, "dashboard")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == mesh.dashboard_url()
