"""The control plane's built-in trace collector: a small Zipkin-compatible server.

Accepts Zipkin v2 JSON (``POST /api/v2/spans``) and OTLP/HTTP protobuf or JSON
(``POST /v1/traces``), keeps recent traces in memory and answers Zipkin's query API
(``GET /api/v2/traces``, ``/api/v2/trace/{id}``, ``/api/v2/services``), so ``mainsail traces``,
the dashboard and Zipkin-speaking tools read them. The mesh's default tracing provider points
here (``with_builtin_collector``) unless MeshConfig names another one, as Istio's default points
at ``zipkin.istio-system:9411``.

Bounded: at most ``max_traces`` traces (the least recently written are dropped first) and
``max_spans_per_trace`` spans each (later spans of a full trace are dropped and counted).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import web

from mainsail.config.extension_providers import ExtensionProvider
from mainsail.config.mesh import MeshConfig
from mainsail.config.tracing import ZipkinTracingProvider
from mainsail.runtime.trace_formats import (
    Span,
    SpanFormatError,
    otlp_json_spans,
    otlp_protobuf_spans,
    zipkin_spans,
)

BUILTIN_PROVIDER = "mainsail-zipkin"
# Zipkin's query API defaults.
_DEFAULT_LIMIT = 10
_DEFAULT_LOOKBACK_MS = 86_400_000
_MAX_BODY = 16 * 1024 * 1024


@dataclass
class TraceStore:
    """Recent traces by id, least recently written first (mutable: the collector's state)."""

    max_traces: int = 1000
    max_spans_per_trace: int = 1000
    dropped_spans: int = 0
    _traces: OrderedDict[str, list[Span]] = field(default_factory=OrderedDict)
    _seen: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(self, spans: Iterable[Span]) -> None:
        for span in spans:
            trace_id = span["traceId"]
            trace = self._traces.get(trace_id)
            if trace is None:
                trace = self._traces[trace_id] = []
                self._seen[trace_id] = set()
                while len(self._traces) > self.max_traces:
                    oldest, _ = self._traces.popitem(last=False)
                    del self._seen[oldest]
            self._traces.move_to_end(trace_id)
            # A retried report repeats a span: keep one (id + kind: a shared client/server
            # span context reports one id twice, once per side).
            key = (span["id"], str(span.get("kind", "")))
            if key in self._seen[trace_id]:
                continue
            if len(trace) >= self.max_spans_per_trace:
                self.dropped_spans += 1
                continue
            self._seen[trace_id].add(key)
            trace.append(span)

    def trace(self, trace_id: str) -> list[Span] | None:
        trace = self._traces.get(trace_id.lower())
        return sorted(trace, key=_start) if trace is not None else None

    def traces(
        self,
        *,
        service: str = "",
        limit: int = _DEFAULT_LIMIT,
        end_ts_ms: int | None = None,
        lookback_ms: int = _DEFAULT_LOOKBACK_MS,
    ) -> list[list[Span]]:
        """Most recent first (by the trace's first span start), as Zipkin's ``/api/v2/traces``."""
        end_us = (end_ts_ms if end_ts_ms is not None else int(time.time() * 1000)) * 1000
        begin_us = end_us - lookback_ms * 1000
        found = []
        for trace in self._traces.values():
            start = min(_start(s) for s in trace)
            if not begin_us <= start <= end_us:
                continue
            if service and not any(_service(s) == service for s in trace):
                continue
            found.append((start, trace))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [sorted(trace, key=_start) for _, trace in found[:limit]]

    def services(self) -> list[str]:
        return sorted({_service(s) for trace in self._traces.values() for s in trace} - {""})

    def __len__(self) -> int:
        return len(self._traces)


def _start(span: Span) -> int:
    return int(span.get("timestamp") or 0)


def _service(span: Span) -> str:
    endpoint = span.get("localEndpoint") or {}
    return str(endpoint.get("serviceName") or "")


def collector_app(store: TraceStore) -> web.Application:
    async def post_zipkin(request: web.Request) -> web.Response:
        if request.content_type not in ("application/json", ""):
            return _bad(
                f"POST /api/v2/spans: content type {request.content_type!r} is not "
                "application/json (Zipkin v2 JSON)",
                status=415,
            )
        try:
            store.add(zipkin_spans(await request.read()))
        except SpanFormatError as exc:
            return _bad(f"POST /api/v2/spans: {exc}")
        return web.Response(status=202)

    async def post_otlp(request: web.Request) -> web.Response:
        body = await request.read()
        kind = request.content_type
        try:
            if kind == "application/x-protobuf":
                store.add(otlp_protobuf_spans(body))
                return web.Response(body=b"", content_type="application/x-protobuf")
            if kind == "application/json":
                store.add(otlp_json_spans(body))
                return web.json_response({})
        except SpanFormatError as exc:
            return _bad(f"POST /v1/traces: {exc}")
        return _bad(
            f"POST /v1/traces: content type {kind!r} is neither application/x-protobuf nor "
            "application/json (OTLP/HTTP)",
            status=415,
        )

    async def get_traces(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", _DEFAULT_LIMIT))
            lookback = int(query.get("lookback", _DEFAULT_LOOKBACK_MS))
            end_ts = int(query["endTs"]) if "endTs" in query else None
        except ValueError as exc:
            return _bad(f"GET /api/v2/traces: limit, lookback and endTs are integers: {exc}")
        if limit < 1:
            return _bad(f"GET /api/v2/traces: limit {limit} must be at least 1")
        return web.json_response(
            store.traces(
                service=query.get("serviceName", ""),
                limit=limit,
                end_ts_ms=end_ts,
                lookback_ms=lookback,
            )
        )

    async def get_trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        trace = store.trace(trace_id)
        if trace is None:
            return web.json_response({"error": f"trace {trace_id} not found"}, status=404)
        return web.json_response(trace)

    async def get_services(request: web.Request) -> web.Response:
        return web.json_response(store.services())

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_post("/api/v2/spans", post_zipkin)
    app.router.add_post("/v1/traces", post_otlp)
    app.router.add_get("/api/v2/traces", get_traces)
    app.router.add_get("/api/v2/trace/{trace_id}", get_trace)
    app.router.add_get("/api/v2/services", get_services)
    return app


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def with_builtin_collector(mesh: MeshConfig, host: str, port: int) -> MeshConfig:
    """The mesh with the built-in collector as its tracing provider, unless MeshConfig already
    names one in ``defaultProviders.tracing`` (then the user's choice stands)."""
    if mesh.default_providers.tracing:
        return mesh
    address = (
        "127.0.0.1" if host in ("", "0.0.0.0") else host
    )  # a wildcard bind: reach it on loopback
    provider = ExtensionProvider(
        name=BUILTIN_PROVIDER, zipkin=ZipkinTracingProvider(service=address, port=port)
    )
    providers = mesh.default_providers.model_copy(update={"tracing": (BUILTIN_PROVIDER,)})
    return mesh.model_copy(
        update={
            "extension_providers": (*mesh.extension_providers, provider),
            "default_providers": providers,
        }
    )


__all__ = ["BUILTIN_PROVIDER", "TraceStore", "collector_app", "with_builtin_collector"]
