"""Span formats the built-in trace collector accepts, read into Zipkin v2 spans.

Zipkin v2 JSON (``POST /api/v2/spans``, what Envoy's Zipkin tracer sends) is checked and kept as
is (ids lower-cased); OTLP/HTTP (``POST /v1/traces``, protobuf or JSON, what Envoy's
OpenTelemetry tracer sends) is converted to the same shape, so one query API (Zipkin's) serves
both. Every error says which span and which field is wrong.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

Span = dict[str, Any]

_TRACE_ID = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{32})$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_KINDS = frozenset({"CLIENT", "SERVER", "PRODUCER", "CONSUMER"})
_OTLP_KINDS = {
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


class SpanFormatError(ValueError):
    """The body is not valid spans; the message names the span and field."""


def zipkin_spans(body: bytes) -> list[Span]:
    """Zipkin v2 JSON: a list of span objects."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpanFormatError(f"body is not JSON: {exc}") from exc
    if not isinstance(document, list):
        raise SpanFormatError(f"body must be a JSON list of spans, not {type(document).__name__}")
    return [_zipkin_span(i, item) for i, item in enumerate(document)]


def _zipkin_span(index: int, item: object) -> Span:
    where = f"span {index}"
    if not isinstance(item, dict):
        raise SpanFormatError(f"{where}: must be a JSON object, not {type(item).__name__}")
    span: Span = dict(item)
    trace_id = _id(where, span, "traceId", _TRACE_ID, "16 or 32 hex characters", required=True)
    span_id = _id(where, span, "id", _SPAN_ID, "16 hex characters", required=True)
    span["traceId"], span["id"] = trace_id, span_id
    parent = _id(where, span, "parentId", _SPAN_ID, "16 hex characters", required=False)
    if parent:
        span["parentId"] = parent
    else:
        span.pop("parentId", None)
    for key in ("timestamp", "duration"):
        value = span.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise SpanFormatError(
                f"{where}: {key} must be a non-negative integer (µs), not {value!r}"
            )
    kind = span.get("kind")
    if kind is not None and kind not in _KINDS:
        raise SpanFormatError(f"{where}: kind {kind!r} is not one of {sorted(_KINDS)}")
    if "name" in span and not isinstance(span["name"], str):
        raise SpanFormatError(f"{where}: name must be a string")
    tags = span.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise SpanFormatError(f"{where}: tags must be an object of strings")
    for key in ("localEndpoint", "remoteEndpoint"):
        if key in span and not isinstance(span[key], dict):
            raise SpanFormatError(f"{where}: {key} must be an object")
    return span


def _id(
    where: str,
    span: Mapping[str, Any],
    key: str,
    pattern: re.Pattern[str],
    shape: str,
    *,
    required: bool,
) -> str:
    value = span.get(key)
    if value is None or value == "":
        if required:
            raise SpanFormatError(f"{where}: {key} is missing")
        return ""
    if not isinstance(value, str) or not pattern.match(value.lower()):
        raise SpanFormatError(f"{where}: {key} {value!r} is not {shape}")
    return value.lower()


def otlp_protobuf_spans(body: bytes) -> list[Span]:
    """OTLP/HTTP protobuf: an ``ExportTraceServiceRequest``."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise SpanFormatError(f"body is not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return _from_otlp(request)


def otlp_json_spans(body: bytes) -> list[Span]:
    """OTLP/HTTP JSON: the protobuf JSON mapping, except that ids are hex, not base64."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpanFormatError(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SpanFormatError("body must be a JSON object with resourceSpans")
    try:
        for r, resource in enumerate(document.get("resourceSpans") or []):
            for s, scope in enumerate(resource.get("scopeSpans") or []):
                for i, span in enumerate(scope.get("spans") or []):
                    where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if span.get(key):
                            span[key] = _hex_to_base64(where, key, span[key])
        request = json_format.ParseDict(
            document, trace_service_pb2.ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (AttributeError, TypeError) as exc:
        raise SpanFormatError(f"body is not an OTLP JSON ExportTraceServiceRequest: {exc}") from exc
    except json_format.ParseError as exc:
        raise SpanFormatError(f"body is not an OTLP JSON ExportTraceServiceRequest: {exc}") from exc
    return _from_otlp(request)


def _hex_to_base64(where: str, key: str, value: object) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise SpanFormatError(f"{where}: {key} {value!r} is not hex") from None


def _from_otlp(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    spans: list[Span] = []
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        service = resource.get("service.name", "unknown_service")
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, otlp in enumerate(scope_spans.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                spans.append(_otlp_span(where, otlp, service))
    return spans


def _otlp_span(where: str, otlp: trace_pb2.Span, service: str) -> Span:
    if len(otlp.trace_id) != 16 or not any(otlp.trace_id):
        raise SpanFormatError(f"{where}: traceId must be 16 non-zero bytes")
    if len(otlp.span_id) != 8 or not any(otlp.span_id):
        raise SpanFormatError(f"{where}: spanId must be 8 non-zero bytes")
    if otlp.parent_span_id and len(otlp.parent_span_id) != 8:
        raise SpanFormatError(f"{where}: parentSpanId must be 8 bytes")
    if otlp.end_time_unix_nano < otlp.start_time_unix_nano:
        raise SpanFormatError(f"{where}: endTimeUnixNano is before startTimeUnixNano")
    span: Span = {
        "traceId": otlp.trace_id.hex(),
        "id": otlp.span_id.hex(),
        "name": otlp.name,
        "timestamp": otlp.start_time_unix_nano // 1000,
        "duration": (otlp.end_time_unix_nano - otlp.start_time_unix_nano) // 1000,
        "localEndpoint": {"serviceName": service},
        "tags": _attributes(otlp.attributes),
    }
    if otlp.parent_span_id and any(otlp.parent_span_id):
        span["parentId"] = otlp.parent_span_id.hex()
    kind = _OTLP_KINDS.get(otlp.kind)
    if kind:
        span["kind"] = kind
    if otlp.status.code == trace_pb2.Status.STATUS_CODE_ERROR:
        span["tags"]["error"] = otlp.status.message or "true"
    return span


def _attributes(attributes: Any) -> dict[str, str]:
    return {kv.key: _value(kv.value) for kv in attributes}


def _value(value: common_pb2.AnyValue) -> str:
    which = value.WhichOneof("value")
    if which is None:
        return ""
    if which in ("array_value", "kvlist_value"):
        return json_format.MessageToJson(getattr(value, which), indent=None)
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    return str(getattr(value, which))


__all__ = ["Span", "SpanFormatError", "otlp_json_spans", "otlp_protobuf_spans", "zipkin_spans"]
