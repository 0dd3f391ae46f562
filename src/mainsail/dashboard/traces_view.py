"""``/api/traces``: the built-in collector's Zipkin-shaped spans as the pages' rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Span = Mapping[str, Any]


class TraceSource(Protocol):
    """What the dashboard reads from the collector (``runtime.trace_collector.TraceStore``)."""

    def traces(self, *, service: str = ..., limit: int = ...) -> list[list[Any]]: ...

    def trace(self, trace_id: str) -> list[Any] | None: ...


def _service(span: Span) -> str:
    endpoint = span.get("localEndpoint") or {}
    return str(endpoint.get("serviceName") or "")


def _start(span: Span) -> int:
    return int(span.get("timestamp") or 0)


def trace_row(spans: Sequence[Span]) -> dict[str, Any]:
    ids = {str(s.get("id")) for s in spans}
    roots = [s for s in spans if not s.get("parentId") or str(s.get("parentId")) not in ids]
    root = min(roots or spans, key=_start)
    start = min(_start(s) for s in spans)
    end = max(_start(s) + int(s.get("duration") or 0) for s in spans)
    return {
        "trace_id": str(root.get("traceId", "")),
        "root": f"{_service(root)} {root.get('name', '')}".strip(),
        "start_us": start,
        "duration_us": end - start,
        "spans": len(spans),
    }


def trace_detail(spans: Sequence[Span]) -> dict[str, Any]:
    ordered = sorted(spans, key=_start)
    return {
        "trace_id": str(ordered[0].get("traceId", "")) if ordered else "",
        "spans": [
            {
                "span_id": str(s.get("id", "")),
                "parent_id": s.get("parentId"),
                "service": _service(s),
                "name": str(s.get("name", "")),
                "kind": s.get("kind"),
                "start_us": _start(s),
                "duration_us": int(s.get("duration") or 0),
                "tags": dict(s.get("tags") or {}),
            }
            for s in ordered
        ],
    }
