"""The book's ServiceGraph add-on (Istio 1.0 ``addons/servicegraph``), from the metrics window.

Its model: nodes named ``<app> (<workload>)``, one edge per (source, destination) with the
rate as a string label, from the servers' reports (``reporter="destination"``):
``sum(rate(istio_requests_total[h])) by (source_workload, destination_workload, source_app,
destination_app)`` labelled ``reqs/sec`` and the same over ``istio_tcp_received_bytes_total``
labelled ``bytes/sec``, six decimals (Go's ``FormatFloat(v, 'f', 6, 64)``). Serializations:
``/graph`` (``{"nodes": {name: {}}, "edges": [{source, target, labels}]}``), ``/d3graph``
(``{"nodes": [{name}], "links": [{source: index, target: index, labels}]}``) and ``/dotgraph``
(``digraph "istio-servicegraph"`` with ids where ``/``, ``.`` and spaces became ``_``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mainsail.dashboard.metrics_window import SeriesKey, WindowTotals

_LABELS = {"requests": "reqs/sec", "tcp_received_bytes": "bytes/sec"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceGraphFilter:
    """ServiceGraph's query parameters (besides ``time_horizon``)."""

    filter_empty: bool = False
    destination_namespace: str = ""
    destination_workload: str = ""
    source_namespace: str = ""
    source_workload: str = ""

    def admits(self, key: SeriesKey) -> bool:
        return all(
            not wanted or value == wanted
            for wanted, value in (
                (self.destination_namespace, key.destination_workload_namespace),
                (self.destination_workload, key.destination_workload),
                (self.source_namespace, key.source_workload_namespace),
                (self.source_workload, key.source_workload),
            )
        )


@dataclass(frozen=True, slots=True)
class ServiceGraph:
    """ServiceGraph's ``Dynamic``: node names and labelled edges (request edges, then TCP)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]


def _node(app: str, workload: str) -> str:
    return f"{app} ({workload})"


def build_service_graph(
    totals: WindowTotals, options: ServiceGraphFilter, known: Iterable[SeriesKey] = ()
) -> ServiceGraph:
    """``known``: series that exist but may not have moved in the window (Prometheus' rate gives
    them 0, which shows unless ``filter_empty``)."""
    rates: dict[str, dict[tuple[str, str], float]] = {label: {} for label in _LABELS.values()}
    candidates = [(key, count) for key, count in totals.counters.items()]
    if not options.filter_empty:
        candidates += [(key, 0.0) for key in known]
    for key, count in candidates:
        label = _LABELS.get(key.metric)
        if label is None or key.reporter != "destination" or not options.admits(key):
            continue
        pair = (
            _node(key.source_app, key.source_workload),
            _node(key.destination_app, key.destination_workload),
        )
        per_second = count / totals.seconds if totals.seconds > 0 else 0.0
        rates[label][pair] = rates[label].get(pair, 0.0) + per_second
    edges = []
    nodes: set[str] = set()
    for label, pairs in rates.items():
        for (source, target), rate in sorted(pairs.items()):
            if options.filter_empty and rate <= 0:
                continue
            edges.append((source, target, ((label, f"{rate:.6f}"),)))
            nodes.update((source, target))
    return ServiceGraph(nodes=tuple(sorted(nodes)), edges=tuple(edges))


def graph_json(graph: ServiceGraph) -> dict[str, Any]:
    return {
        "nodes": {name: {} for name in graph.nodes},
        "edges": [
            {"source": s, "target": t, "labels": dict(labels)} for s, t, labels in graph.edges
        ],
    }


def d3_json(graph: ServiceGraph) -> dict[str, Any]:
    index = {name: i for i, name in enumerate(graph.nodes)}
    return {
        "nodes": [{"name": name} for name in graph.nodes],
        "links": [
            {"source": index[s], "target": index[t], "labels": dict(labels)}
            for s, t, labels in graph.edges
        ],
    }


def _dot_id(name: str) -> str:
    return name.replace("/", "_").replace(".", "_").replace(" ", "_")


def _quoted(text: str) -> str:
    """Go's ``%q`` for the characters node names and labels can hold."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def dot_text(graph: ServiceGraph) -> str:
    lines = ['digraph "istio-servicegraph" {']
    for source, target, labels in graph.edges:
        label = ", ".join(f"{k}: {v}" for k, v in labels)
        lines.append(f"{_quoted(_dot_id(source))} -> {_quoted(_dot_id(target))} "
                     f"[label={_quoted(label)}];")  # fmt: skip
    for name in graph.nodes:
        lines.append(f"{_quoted(_dot_id(name))} [label={_quoted(name)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
