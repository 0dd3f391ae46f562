"""Tracing end to end through real Envoy: one request through the ingress gateway is one trace
with the gateway, productpage, details, reviews and ratings spans, each server span the child
of its caller's client span. Spans go to the control plane's built-in collector by default
(``telemetry_mesh``: no tracing provider named), or to any Zipkin-compatible receiver the
MeshConfig names (here a tiny HTTP server of the test's own), or over OTLP/HTTP by Envoy's
OpenTelemetry tracer."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiohttp import web

from mainsail.cli.mesh import demo_files
from mainsail.runtime.trace_collector import TraceStore, collector_app
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for

Span = dict[str, Any]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Envoy's Zipkin reporter flushes every 5 s; a mesh on 2 busy cores may be slower.
_SPANS_WITHIN = 60.0


def _service(span: Span) -> str:
    return str((span.get("localEndpoint") or {}).get("serviceName", ""))


def check_bookinfo_trace(trace: list[Span], parent_of_root: str | None = None) -> None:
    """The call tree of /productpage, as each hop's spans report it."""
    by_id = {s["id"]: s for s in trace}
    assert len({s["traceId"] for s in trace}) == 1
    [gateway] = [s for s in trace if _service(s).startswith("istio-ingressgateway")]
    assert gateway.get("parentId") == parent_of_root
    # Span names are the route decorators (``<host>:<port><path>``; the gateway's port).
    assert gateway["name"].startswith("productpage.default.svc.cluster.local:")

    def server_of(service: str) -> list[Span]:
        return [s for s in trace if s.get("kind") == "SERVER" and _service(s).startswith(service)]

    def caller(span: Span) -> Span:
        parent = by_id[span["parentId"]]  # a parent id outside the trace is a KeyError
        assert parent.get("kind") in ("CLIENT", None) or parent is gateway
        return parent

    [productpage] = server_of("productpage")
    assert caller(productpage) is gateway
    for service in ("details", "reviews"):
        [server] = server_of(service)
        client = caller(server)
        assert _service(client).startswith("productpage"), client
        assert client["parentId"] == productpage["id"]
        assert client["name"].startswith(f"{service}.default.svc.cluster.local:9080")
    [reviews] = server_of("reviews")
    for ratings in server_of("ratings"):
        client = caller(ratings)
        assert _service(client).startswith("reviews") and client["parentId"] == reviews["id"]
    # Istio's literal tags on every span.
    assert productpage["tags"]["istio.canonical_service"] == "productpage"
    assert productpage["tags"]["istio.namespace"] == "default"
    assert {"istio.mesh_id", "istio.cluster_id", "istio.canonical_revision"} <= set(
        productpage["tags"]
    )


def _get_json(url: str) -> Any:
    with _NO_PROXY.open(url, timeout=10) as response:
        return json.loads(response.read())


async def test_one_request_one_trace_in_the_builtin_collector(telemetry_mesh: LocalMesh) -> None:
    info = telemetry_mesh.home.read_json(telemetry_mesh.home.control_plane_file) or {}
    collector = str(info["traces"])
    found: list[Span] = []

    async def trace_with_ratings() -> bool:
        # reviews v1 does not call ratings: a few requests, each its own trace, started by the
        # client (B3, sampled) so the trace id is known; Envoy honours the sampled flag.
        trace_id = secrets.token_hex(16)
        client_span = secrets.token_hex(8)
        headers = {"x-b3-traceid": trace_id, "x-b3-spanid": client_span, "x-b3-sampled": "1"}
        status, _ = http_get(telemetry_mesh.gateway_url(), headers=headers)
        assert status == 200

        async def complete() -> list[Span] | None:
            try:
                trace: list[Span] = _get_json(f"{collector}/api/v2/trace/{trace_id}")
            except OSError:
                return None
            services = {_service(s).split(".")[0] for s in trace}
            wanted = {"istio-ingressgateway", "productpage", "details", "reviews"}
            return trace if wanted <= services else None

        trace = await wait_for(complete, timeout=_SPANS_WITHIN, interval=0.5)
        assert trace is not None
        check_bookinfo_trace(trace, parent_of_root=client_span)
        if any(_service(s).startswith("ratings") for s in trace):
            found[:] = trace
            return True
        return False

    await wait_for(trace_with_ratings, timeout=4 * _SPANS_WITHIN, interval=0.1)
    kinds = sorted((_service(s).split(".")[0], s.get("kind")) for s in found)
    assert kinds == [
        ("details", "SERVER"),
        ("istio-ingressgateway", "CLIENT"),
        ("productpage", "CLIENT"),
        ("productpage", "CLIENT"),
        ("productpage", "SERVER"),
        ("ratings", "SERVER"),
        ("reviews", "CLIENT"),
        ("reviews", "SERVER"),
    ], kinds
    # The CLI shows it.
    result = telemetry_mesh.cli("traces", found[0]["traceId"], check=True)
    assert "ratings.default" in result.stdout and "█" in result.stdout


class _Receiver(BaseHTTPRequestHandler):
    spans: list[Span]

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/api/v2/spans":
            self.server.spans.extend(json.loads(body))  # type: ignore[attr-defined]
            self.send_response(202)
        else:
            self.send_response(404)
        self.end_headers()

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("content-length", 0)))
        # Envoy streams the report in chunks: <hex size>\r\n<data>\r\n ... 0\r\n\r\n.
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return body

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def zipkin_receiver() -> Iterator[tuple[str, int, list[Span]]]:
    server = ThreadingHTTPServer((random_loopback_address(), 0), _Receiver)
    server.spans = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port), server.spans  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def external_zipkin_mesh(
    tmp_path_factory: pytest.TempPathFactory, zipkin_receiver: tuple[str, int, list[Span]]
) -> Iterator[LocalMesh]:
    """BookInfo tracing every request (Istio's demo profile) to a Zipkin outside the mesh."""
    host, port, _ = zipkin_receiver
    mesh_config = {
        "extensionProviders": [{"name": "zipkin-ext", "zipkin": {"service": host, "port": port}}],
        "defaultProviders": {"tracing": ["zipkin-ext"]},
        "defaultConfig": {"tracing": {"sampling": 100}},
    }
    with LocalMesh(
        demo_files(), tmp_path_factory.mktemp("tracing"), mesh_config=mesh_config
    ) as mesh:
        yield mesh


async def test_sampled_by_envoy_to_an_external_zipkin(
    external_zipkin_mesh: LocalMesh, zipkin_receiver: tuple[str, int, list[Span]]
) -> None:
    _, _, spans = zipkin_receiver

    async def one_trace_with_ratings() -> list[Span] | None:
        # No trace headers: Envoy samples (100 %) and starts the trace at the gateway.
        assert http_get(external_zipkin_mesh.gateway_url())[0] == 200
        traces: dict[str, list[Span]] = {}
        for span in list(spans):
            traces.setdefault(span["traceId"], []).append(span)
        for trace in traces.values():
            services = {_service(s).split(".")[0] for s in trace}
            if {"istio-ingressgateway", "productpage", "details", "reviews", "ratings"} <= services:
                # Hops flush their spans independently: complete once the tree holds.
                check_bookinfo_trace(trace)
                return trace
        return None

    trace = await wait_for(one_trace_with_ratings, timeout=4 * _SPANS_WITHIN, interval=2.0)
    assert trace is not None and len(trace) == 8, trace


@pytest.fixture(scope="module")
def otlp_collector() -> Iterator[tuple[str, int, TraceStore]]:
    """The built-in collector's code, run by the test on its own address (OTLP/HTTP in)."""
    host, store = random_loopback_address(), TraceStore()
    port = free_port(host)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(collector_app(store), access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield host, port, store
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


async def test_opentelemetry_tracer_over_otlp_http(
    tmp_path_factory: pytest.TempPathFactory, otlp_collector: tuple[str, int, TraceStore]
) -> None:
    """Envoy's OpenTelemetry tracer (OTLP/HTTP protobuf, W3C traceparent) into the collector."""
    host, port, store = otlp_collector
    mesh_config = {
        "extensionProviders": [
            {
                "name": "otel",
                "opentelemetry": {"service": host, "port": port, "http": {"path": "/v1/traces"}},
            }
        ],
        "defaultProviders": {"tracing": ["otel"]},
        "defaultConfig": {"tracing": {"sampling": 100}},
    }
    home = tmp_path_factory.mktemp("otel")
    with LocalMesh(demo_files(), home, mesh_config=mesh_config) as mesh:

        async def one_trace() -> list[Span] | None:
            assert http_get(mesh.gateway_url())[0] == 200
            for trace in store.traces(limit=50):
                services = {_service(s).split(".")[0] for s in trace}
                if {"istio-ingressgateway", "productpage", "details", "reviews"} <= services:
                    check_bookinfo_trace(trace)
                    return trace
            return None

        trace = await wait_for(one_trace, timeout=4 * _SPANS_WITHIN, interval=2.0)
        assert trace is not None
