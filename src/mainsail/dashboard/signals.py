"""Golden signals for the mesh summary, one service and one workload: figures over a window,
series over a range, inbound and outbound breakdowns (the Grafana Istio dashboards' content).

Pure functions of ``WindowTotals`` (and, for series, of the window's slots). A service's and a
workload's inbound figures are the server's reports (``reporter="destination"``, what Istio's
Service and Workload dashboards read); a workload's outbound ones are its own proxy's
(``reporter="source"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mainsail.dashboard.graph import MeshInventory, Node, service_node, workload_node
from mainsail.dashboard.metrics_window import HistogramKey, SeriesKey, Slot, WindowTotals
from mainsail.dashboard.tally import Tally

SeriesFilter = Callable[[SeriesKey], bool]
HistogramFilter = Callable[[HistogramKey], bool]
Grouping = Callable[[SeriesKey | HistogramKey], Node | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which reports count for a view: a predicate on counters and one on histograms."""

    counters: SeriesFilter
    histograms: HistogramFilter


def service_selection(namespace: str, name: str) -> Selection:
    def counters(key: SeriesKey) -> bool:
        return (
            key.reporter == "destination"
            and key.destination_service_name == name
            and key.destination_service_namespace == namespace
        )

    def histograms(key: HistogramKey) -> bool:
        return (
            key.reporter == "destination"
            and key.destination_service_name == name
            and key.destination_service_namespace == namespace
        )

    return Selection(counters=counters, histograms=histograms)


def workload_inbound(namespace: str, name: str) -> Selection:
    def counters(key: SeriesKey) -> bool:
        return (
            key.reporter == "destination"
            and key.destination_workload == name
            and key.destination_workload_namespace == namespace
        )

    def histograms(key: HistogramKey) -> bool:
        return (
            key.reporter == "destination"
            and key.destination_workload == name
            and key.destination_workload_namespace == namespace
        )

    return Selection(counters=counters, histograms=histograms)


def workload_outbound(namespace: str, name: str) -> Selection:
    def counters(key: SeriesKey) -> bool:
        return (
            key.reporter == "source"
            and key.source_workload == name
            and key.source_workload_namespace == namespace
        )

    def histograms(key: HistogramKey) -> bool:
        return (
            key.reporter == "source"
            and key.source_workload == name
            and key.source_workload_namespace == namespace
        )

    return Selection(counters=counters, histograms=histograms)


def mesh_selection(inventory: MeshInventory) -> Selection:
    """Every request once: the servers' reports, plus the callers' reports of requests that
    left the mesh (no server proxy reported those)."""

    def outside(key: SeriesKey | HistogramKey) -> bool:
        node = service_node(
            key.destination_service_name,
            key.destination_service_namespace,
            key.destination_service,
            inventory,
        )
        return node is not None and node.kind == "external"

    def counters(key: SeriesKey) -> bool:
        return key.reporter == "destination" or (key.reporter == "source" and outside(key))

    def histograms(key: HistogramKey) -> bool:
        return key.reporter == "destination" or (key.reporter == "source" and outside(key))

    return Selection(counters=counters, histograms=histograms)


def tally(totals: WindowTotals, selection: Selection) -> Tally:
    found = Tally()
    for key, count in totals.counters.items():
        if key.metric == "requests" and selection.counters(key):
            found.add_requests(key, count)
            if key.reporter == "destination":
                found.add_security(key, count)
    for hist, per_bucket in totals.histograms.items():
        if selection.histograms(hist):
            found.add_buckets(per_bucket)
    return found


def grouped(
    totals: WindowTotals, selection: Selection, group: Grouping
) -> dict[str, tuple[Node, Tally]]:
    """Requests and latencies of ``selection``, per node ``group`` maps each report to."""
    found: dict[str, tuple[Node, Tally]] = {}
    for key, count in totals.counters.items():
        if key.metric != "requests" or not selection.counters(key):
            continue
        node = group(key)
        if node is None:
            continue
        _, into = found.setdefault(node.id, (node, Tally()))
        into.add_requests(key, count)
        if key.reporter == "destination":
            into.add_security(key, count)
    for hist, per_bucket in totals.histograms.items():
        if not selection.histograms(hist):
            continue
        node = group(hist)
        if node is not None and node.id in found:
            found[node.id][1].add_buckets(per_bucket)
    return found


def by_caller(inventory: MeshInventory) -> Grouping:
    def group(key: SeriesKey | HistogramKey) -> Node:
        app = key.source_app if isinstance(key, SeriesKey) else ""
        version = key.source_version if isinstance(key, SeriesKey) else ""
        return workload_node(
            key.source_workload_namespace, key.source_workload, app, version, inventory
        )

    return group


def by_server(inventory: MeshInventory) -> Grouping:
    def group(key: SeriesKey | HistogramKey) -> Node:
        app = key.destination_app if isinstance(key, SeriesKey) else ""
        version = key.destination_version if isinstance(key, SeriesKey) else ""
        return workload_node(
            key.destination_workload_namespace, key.destination_workload, app, version, inventory
        )

    return group


def by_service(inventory: MeshInventory) -> Grouping:
    def group(key: SeriesKey | HistogramKey) -> Node | None:
        return service_node(
            key.destination_service_name,
            key.destination_service_namespace,
            key.destination_service,
            inventory,
        )

    return group


def per_service(
    totals: WindowTotals, inventory: MeshInventory
) -> dict[tuple[str, str], tuple[Tally, dict[str, tuple[Node, Tally]]]]:
    """Every service's figures and its serving workloads', in one pass over the window (what
    ``tally`` and ``grouped`` with ``service_selection`` give, for all services at once)."""
    found: dict[tuple[str, str], tuple[Tally, dict[str, tuple[Node, Tally]]]] = {}
    for key, count in totals.counters.items():
        if key.metric != "requests" or key.reporter != "destination":
            continue
        service = (key.destination_service_namespace, key.destination_service_name)
        whole, workloads = found.setdefault(service, (Tally(), {}))
        node = workload_node(key.destination_workload_namespace, key.destination_workload,
                             key.destination_app, key.destination_version, inventory)  # fmt: skip
        _, part = workloads.setdefault(node.id, (node, Tally()))
        for into in (whole, part):
            into.add_requests(key, count)
            into.add_security(key, count)
    for hist, per_bucket in totals.histograms.items():
        if hist.reporter != "destination":
            continue
        service = (hist.destination_service_namespace, hist.destination_service_name)
        if service not in found:
            continue
        whole, workloads = found[service]
        whole.add_buckets(per_bucket)
        node = workload_node(hist.destination_workload_namespace, hist.destination_workload,
                             "", "", inventory)  # fmt: skip
        if node.id in workloads:
            workloads[node.id][1].add_buckets(per_bucket)
    return found


def breakdown_rows(groups: dict[str, tuple[Node, Tally]], seconds: float) -> list[dict[str, Any]]:
    rows = []
    for node, found in sorted(groups.values(), key=lambda pair: pair[0].id):
        percent = found.mtls_percent()
        rows.append(
            {
                "id": node.id,
                "namespace": node.namespace,
                "name": node.name,
                "kind": node.kind,
                **found.figures(seconds),
                "mtls": None if percent is None else percent >= 99.9,
            }
        )
    return rows


def series(
    slots: Iterable[Slot],
    sum_slots: Callable[[Iterable[Slot], SeriesFilter, HistogramFilter], WindowTotals],
    selection: Selection,
    *,
    start: float,
    end: float,
    step: float,
) -> dict[str, list[list[float | None]]]:
    """``[t, value]`` points every ``step`` seconds from ``start`` to ``end``: each point the
    figures of the slots that ended in the step before it (``rate(...[step])``)."""
    ordered = [s for s in slots if start - step < s.end <= end]
    points: dict[str, list[list[float | None]]] = {
        "rps": [],
        "error_rate": [],
        "p50_ms": [],
        "p99_ms": [],
    }
    index = 0
    t = start
    while t <= end + 1e-9:
        chunk = []
        while index < len(ordered) and ordered[index].end <= t:
            if ordered[index].end > t - step:
                chunk.append(ordered[index])
            index += 1
        if not chunk and index < len(ordered) and ordered[index].end - ordered[index].seconds < t:
            chunk = [ordered[index]]  # a block longer than the step covers this point
        totals = sum_slots(chunk, selection.counters, selection.histograms)
        figures = tally(totals, selection).figures(totals.seconds) if chunk else None
        for name, values in points.items():
            values.append([round(t, 3), None if figures is None else figures[name]])
        t += step
    return points
