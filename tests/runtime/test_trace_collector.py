"""The built-in trace collector over real HTTP: Zipkin v2 JSON, OTLP/HTTP protobuf and JSON in,
Zipkin's query API out, bad input refused with the reason, the store bounded."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from mainsail.config.mesh import DefaultProviders, MeshConfig
from mainsail.runtime.trace_collector import (
    BUILTIN_PROVIDER,
    TraceStore,
    collector_app,
    with_builtin_collector,
)
from mainsail.testing.loopback import random_loopback_address

TRACE = "463ac35c9f6413ad48485a3953bb6124"
NOW_US = int(time.time() * 1_000_000)


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, TraceStore]]:
    store = TraceStore(max_traces=3, max_spans_per_trace=4)
    runner = web.AppRunner(collector_app(store), access_log=None)
    await runner.setup()
    host = random_loopback_address()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{port}", store
    finally:
        await runner.cleanup()


def zipkin_span(span_id: str, parent: str | None = None, **extra: object) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": TRACE,
        "id": span_id,
        "name": f"span-{span_id[-1]}",
        "kind": "SERVER",
        "timestamp": NOW_US + int(span_id[-1]) * 1000,
        "duration": 5000,
        "localEndpoint": {"serviceName": "productpage.default"},
        "tags": {"istio.namespace": "default"},
    }
    if parent:
        span["parentId"] = parent
    span.update(extra)
    return span


async def post(url: str, body: bytes, content_type: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={"content-type": content_type}) as response,
    ):
        return response.status, await response.text()


async def get(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_zipkin_json_in_query_api_out(collector: tuple[str, TraceStore]) -> None:
    base, _ = collector
    spans = [zipkin_span("0000000000000001"), zipkin_span("0000000000000002", "0000000000000001")]
    status, _ = await post(f"{base}/api/v2/spans", json.dumps(spans).encode(), "application/json")
    assert status == 202
    status, trace = await get(f"{base}/api/v2/trace/{TRACE.upper()}")
    assert status == 200
    assert isinstance(trace, list)
    assert [s["id"] for s in trace] == ["0000000000000001", "0000000000000002"]
    assert trace[1]["parentId"] == "0000000000000001"
    status, traces = await get(f"{base}/api/v2/traces?serviceName=productpage.default")
    assert status == 200 and isinstance(traces, list) and len(traces) == 1
    status, traces = await get(f"{base}/api/v2/traces?serviceName=reviews.default")
    assert traces == []
    assert await get(f"{base}/api/v2/services") == (200, ["productpage.default"])
    status, missing = await get(f"{base}/api/v2/trace/{'0' * 31}1")
    assert status == 404 and "not found" in str(missing)


async def test_retried_span_kept_once(collector: tuple[str, TraceStore]) -> None:
    base, store = collector
    body = json.dumps([zipkin_span("0000000000000001")]).encode()
    for _ in range(2):
        assert (await post(f"{base}/api/v2/spans", body, "application/json"))[0] == 202
    assert len(store.trace(TRACE) or []) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b'{"traceId": "x"}', "must be a JSON list"),
        (json.dumps([{"id": "0000000000000001"}]).encode(), "span 0: traceId is missing"),
        (
            json.dumps([zipkin_span("0000000000000001", traceId="xyz")]).encode(),
            "span 0: traceId 'xyz' is not 16 or 32 hex",
        ),
        (
            json.dumps([zipkin_span("0000000000000001", kind="SIDEWAYS")]).encode(),
            "span 0: kind 'SIDEWAYS'",
        ),
        (
            json.dumps([zipkin_span("0000000000000001", duration=-1)]).encode(),
            "span 0: duration must be a non-negative integer",
        ),
        (
            json.dumps([zipkin_span("0000000000000001", tags={"a": 1})]).encode(),
            "span 0: tags must be an object of strings",
        ),
    ],
)
async def test_bad_zipkin_input_is_400_with_the_reason(
    collector: tuple[str, TraceStore], body: bytes, reason: str
) -> None:
    base, store = collector
    status, text = await post(f"{base}/api/v2/spans", body, "application/json")
    assert status == 400
    assert reason in json.loads(text)["error"]
    assert len(store) == 0


def otlp_request() -> trace_service_pb2.ExportTraceServiceRequest:
    start = NOW_US * 1000
    root = trace_pb2.Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex("00000000000000aa"),
        name="bookinfo.local:80/*",
        kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 7_000_000,
        attributes=[
            common_pb2.KeyValue(key="http.status_code", value=common_pb2.AnyValue(int_value=200))
        ],
    )
    child = trace_pb2.Span(
        trace_id=bytes.fromhex(TRACE),
        span_id=bytes.fromhex("00000000000000bb"),
        parent_span_id=bytes.fromhex("00000000000000aa"),
        name="reviews.default.svc.cluster.local:9080/*",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start + 1_000_000,
        end_time_unix_nano=start + 3_000_000,
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="boom"),
    )
    service = common_pb2.KeyValue(
        key="service.name", value=common_pb2.AnyValue(string_value="istio-ingressgateway")
    )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[service]),
                scope_spans=[trace_pb2.ScopeSpans(spans=[root, child])],
            )
        ]
    )


def check_otlp_trace(trace: object) -> None:
    assert isinstance(trace, list)
    root, child = trace
    assert root["id"] == "00000000000000aa" and "parentId" not in root
    assert root["kind"] == "SERVER" and root["duration"] == 7000
    assert root["localEndpoint"] == {"serviceName": "istio-ingressgateway"}
    assert root["tags"]["http.status_code"] == "200"
    assert child["parentId"] == "00000000000000aa" and child["kind"] == "CLIENT"
    assert child["timestamp"] - root["timestamp"] == 1000
    assert child["tags"]["error"] == "boom"


async def test_otlp_protobuf(collector: tuple[str, TraceStore]) -> None:
    base, _ = collector
    body = otlp_request().SerializeToString()
    status, _ = await post(f"{base}/v1/traces", body, "application/x-protobuf")
    assert status == 200
    status, trace = await get(f"{base}/api/v2/trace/{TRACE}")
    check_otlp_trace(trace)


async def test_otlp_json_with_hex_ids(collector: tuple[str, TraceStore]) -> None:
    base, _ = collector
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "istio-ingressgateway"}}
                    ]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE,
                                "spanId": "00000000000000aa",
                                "name": "bookinfo.local:80/*",
                                "kind": 2,
                                "startTimeUnixNano": str(NOW_US * 1000),
                                "endTimeUnixNano": str(NOW_US * 1000 + 7_000_000),
                                "attributes": [
                                    {"key": "http.status_code", "value": {"intValue": "200"}}
                                ],
                            },
                            {
                                "traceId": TRACE,
                                "spanId": "00000000000000bb",
                                "parentSpanId": "00000000000000aa",
                                "name": "reviews.default.svc.cluster.local:9080/*",
                                "kind": 3,
                                "startTimeUnixNano": str(NOW_US * 1000 + 1_000_000),
                                "endTimeUnixNano": str(NOW_US * 1000 + 3_000_000),
                                "status": {"code": 2, "message": "boom"},
                            },
                        ]
                    }
                ],
            }
        ]
    }
    status, text = await post(
        f"{base}/v1/traces", json.dumps(document).encode(), "application/json"
    )
    assert status == 200, text
    status, trace = await get(f"{base}/api/v2/trace/{TRACE}")
    check_otlp_trace(trace)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", 400, "not an OTLP ExportTraceServiceRequest"),
        (
            json.dumps(
                {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}
            ).encode(),
            "application/json",
            400,
            "resourceSpans[0].scopeSpans[0].spans[0]: traceId 'zz' is not hex",
        ),
        (b"spans", "text/plain", 415, "neither application/x-protobuf nor application/json"),
    ],
)
async def test_bad_otlp_input(
    collector: tuple[str, TraceStore], body: bytes, content_type: str, status: int, reason: str
) -> None:
    base, _ = collector
    got, text = await post(f"{base}/v1/traces", body, content_type)
    assert got == status
    assert reason in json.loads(text)["error"]


def test_store_is_bounded() -> None:
    store = TraceStore(max_traces=2, max_spans_per_trace=2)
    for n in range(3):
        trace = f"{n + 1:032x}"
        store.add(
            [{"traceId": trace, "id": f"{i + 1:016x}", "timestamp": NOW_US + n} for i in range(3)]
        )
    assert store.trace(f"{1:032x}") is None  # the least recently written went first
    assert len(store.trace(f"{3:032x}") or []) == 2
    assert store.dropped_spans == 3  # the third span of each trace
    newest_first = store.traces(limit=5)
    assert [t[0]["traceId"] for t in newest_first] == [f"{3:032x}", f"{2:032x}"]
    assert len(store.traces(limit=1)) == 1


def test_default_provider_is_the_builtin_collector_unless_one_is_named() -> None:
    mesh = with_builtin_collector(MeshConfig(), "0.0.0.0", 9411)
    assert mesh.default_providers.tracing == (BUILTIN_PROVIDER,)
    zipkin = mesh.extension_providers[-1].zipkin
    assert zipkin is not None and (zipkin.service, zipkin.port) == ("127.0.0.1", 9411)
    named = MeshConfig(default_providers=DefaultProviders(tracing=("mine",)))
    assert with_builtin_collector(named, "127.0.0.1", 9411) is named
