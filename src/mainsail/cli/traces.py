"""``mainsail traces``: recent traces from the built-in collector, one as a terminal waterfall.

Reads Zipkin's query API (``/api/v2/traces``, ``/api/v2/trace/{id}``) of the control plane's
collector (its address is in ``controlplane.json``), or of any Zipkin-compatible server given
with ``--url``.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mainsail.cli.common import CommandError, add_home_argument, dump, home_of, print_table

Span = Mapping[str, Any]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_BAR = 40


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "traces", help="recent traces (id, root span, duration, spans); one as a waterfall"
    )
    parser.add_argument("trace_id", nargs="?", help="show this trace as a waterfall")
    parser.add_argument("--service", default="", help="only traces with a span of this service")
    parser.add_argument("--limit", type=int, default=20, help="how many traces (20)")
    parser.add_argument(
        "--url", default="", help="a Zipkin-compatible server (default: the built-in collector)"
    )
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/") or _collector_url(args)
    if args.trace_id:
        trace = _get(f"{base}/api/v2/trace/{urllib.parse.quote(args.trace_id)}")
        if args.output != "table":
            dump(trace, args.output)
        else:
            print("\n".join(waterfall(trace)))
        return 0
    if args.limit < 1:
        raise CommandError(f"--limit {args.limit}: must be at least 1")
    query = urllib.parse.urlencode(
        {"limit": args.limit, **({"serviceName": args.service} if args.service else {})}
    )
    traces = _get(f"{base}/api/v2/traces?{query}")
    summaries = [summarize(trace) for trace in traces if trace]
    if args.output != "table":
        dump([s.as_dict() for s in summaries], args.output)
        return 0
    if not summaries:
        print("no traces yet" + (f" with service {args.service}" if args.service else ""))
        return 0
    print_table(
        ("TRACE ID", "ROOT", "START", "DURATION", "SPANS"),
        [
            (s.trace_id, s.root, _clock(s.start_us), _duration(s.duration_us), s.spans)
            for s in summaries
        ],
    )
    return 0


def _collector_url(args: argparse.Namespace) -> str:
    home = home_of(args)
    info = home.read_json(home.control_plane_file)
    if not info or "traces" not in info:
        raise CommandError(
            f"no control plane with a trace collector is running for {home.root} (start one "
            "with `mainsail demo` or `mainsail up`, or give --url)"
        )
    return str(info["traces"])


def _get(url: str) -> Any:
    try:
        with _NO_PROXY.open(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        if exc.code == 404:
            raise CommandError(f"{url}: no such trace") from None
        raise CommandError(f"{url}: HTTP {exc.code} {detail}") from None
    except (OSError, urllib.error.URLError, json.JSONDecodeError) as exc:
        raise CommandError(f"{url}: {exc}") from None


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    root: str
    start_us: int
    duration_us: int
    spans: int

    def as_dict(self) -> dict[str, object]:
        return {
            "traceId": self.trace_id,
            "root": self.root,
            "startMicros": self.start_us,
            "durationMicros": self.duration_us,
            "spans": self.spans,
        }


def summarize(trace: Sequence[Span]) -> TraceSummary:
    """Id, root span (``service: name``), start and duration (first start to last end)."""
    start = min(_start(s) for s in trace)
    end = max(_start(s) + _length(s) for s in trace)
    root = min(_roots(trace), key=_start)
    return TraceSummary(
        trace_id=str(trace[0].get("traceId", "")),
        root=_label(root),
        start_us=start,
        duration_us=end - start,
        spans=len(trace),
    )


def waterfall(trace: Sequence[Span], width: int = _BAR) -> list[str]:
    """One line per span, children under their parent (indented), with its offset from the
    trace start, its duration and a bar placed on the trace's time line."""
    if not trace:
        return ["(empty trace)"]
    summary = summarize(trace)
    total = max(summary.duration_us, 1)
    children: dict[str, list[Span]] = {}
    ids = {str(s.get("id")) for s in trace}
    for span in trace:
        parent = span.get("parentId")
        if parent and parent in ids and parent != span.get("id"):
            children.setdefault(str(parent), []).append(span)
    rows: list[tuple[str, str, str, str]] = []

    def visit(span: Span, depth: int, seen: frozenset[str]) -> None:
        offset = _start(span) - summary.start_us
        first = min(width - 1, offset * width // total)
        size = max(1, min(width - first, _length(span) * width // total))
        bar = " " * first + "█" * size + " " * (width - first - size)
        rows.append(("  " * depth + _label(span), _duration(offset), _duration(_length(span)), bar))
        span_id = str(span.get("id"))
        if span_id in seen:  # a cycle of parent ids: shown once
            return
        for child in sorted(children.get(span_id, []), key=_start):
            visit(child, depth + 1, seen | {span_id})

    for root in sorted(_roots(trace), key=_start):
        visit(root, 0, frozenset())
    name_width = max(len(r[0]) for r in rows)
    lines = [
        f"trace {summary.trace_id}: {summary.spans} spans, {_duration(summary.duration_us)}",
        f"{'SPAN'.ljust(name_width)}  {'OFFSET':>8}  {'DURATION':>8}  |{' ' * width}|",
    ]
    lines += [
        f"{name.ljust(name_width)}  {offset:>8}  {length:>8}  |{bar}|"
        for name, offset, length, bar in rows
    ]
    return lines


def _roots(trace: Sequence[Span]) -> list[Span]:
    ids = {s.get("id") for s in trace}
    roots = [s for s in trace if not s.get("parentId") or s.get("parentId") not in ids]
    return roots or list(trace[:1])


def _label(span: Span) -> str:
    service = (span.get("localEndpoint") or {}).get("serviceName") or "?"
    kind = f" [{span['kind'].lower()}]" if span.get("kind") else ""
    return f"{service}: {span.get('name') or '?'}{kind}"


def _start(span: Span) -> int:
    return int(span.get("timestamp") or 0)


def _length(span: Span) -> int:
    return int(span.get("duration") or 0)


def _duration(micros: int) -> str:
    if micros < 1000:
        return f"{micros}µs"
    if micros < 1_000_000:
        return f"{micros / 1000:.3g}ms"
    return f"{micros / 1_000_000:.3g}s"


def _clock(micros: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(micros / 1_000_000))


__all__ = ["TraceSummary", "register", "run", "summarize", "waterfall"]
