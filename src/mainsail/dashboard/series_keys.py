"""Istio's standard metrics as the dashboard keeps them: a scraped ``/stats/prometheus`` page
reduced to counter keys (``SeriesKey``) and histogram keys (``HistogramKey``) with only the
labels the graph and the views group by (principals beyond the source's, canonical names and
clusters are summed away). Pure; the scraper passes a memo of parsed label texts (``LineMemo``)
so that after its first round a line costs a dict lookup.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mainsail.telemetry.prometheus_text import parse_prometheus_text

# Counters kept, by the short name a key carries.
COUNTERS = {
    "istio_requests_total": "requests",
    "istio_tcp_sent_bytes_total": "tcp_sent_bytes",
    "istio_tcp_received_bytes_total": "tcp_received_bytes",
    "istio_tcp_connections_opened_total": "tcp_opened",
    "istio_tcp_connections_closed_total": "tcp_closed",
}
DURATION_BUCKETS = "istio_request_duration_milliseconds_bucket"
# Istio's (Envoy's default) bucket bounds, then +Inf (docs/observability.md).
BUCKET_BOUNDS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
    600000, 1800000, 3600000, math.inf,
)  # fmt: skip
_BUCKET_INDEX = {bound: index for index, bound in enumerate(BUCKET_BOUNDS)}


class SeriesKey(NamedTuple):
    """One counter series after reduction (label values as Istio writes them)."""

    metric: str
    reporter: str
    source_workload: str
    source_workload_namespace: str
    source_app: str
    source_version: str
    source_principal: str
    destination_workload: str
    destination_workload_namespace: str
    destination_app: str
    destination_version: str
    destination_service: str
    destination_service_name: str
    destination_service_namespace: str
    request_protocol: str
    response_code: str
    grpc_response_status: str
    response_flags: str
    connection_security_policy: str


class HistogramKey(NamedTuple):
    """One duration histogram after reduction (no response labels: latency per edge)."""

    reporter: str
    source_workload: str
    source_workload_namespace: str
    destination_workload: str
    destination_workload_namespace: str
    destination_service: str
    destination_service_name: str
    destination_service_namespace: str


SERIES_LABELS = SeriesKey._fields[1:]
HISTOGRAM_LABELS = HistogramKey._fields
_PREFIXES = (*COUNTERS, DURATION_BUCKETS)


@dataclass(frozen=True, slots=True)
class PodScrape:
    """One pod's Istio metrics at one instant: cumulative counters and cumulative buckets."""

    counters: Mapping[SeriesKey, float]
    histograms: Mapping[HistogramKey, Sequence[float]]


# What a sample line's name and labels reduce to: a counter key, a (histogram key, bucket)
# or nothing. The same series print the same label text on every scrape, so a memo of it
# (``LineMemo``, kept by the scraper) turns parsing into a dict lookup after the first round.
_LineKey = SeriesKey | tuple[HistogramKey, int] | None
LineMemo = dict[str, _LineKey]
_MEMO_LIMIT = 500_000


def _line_key(head: str) -> _LineKey:
    samples = parse_prometheus_text(f"{head} 0")
    if not samples:
        return None
    sample = samples[0]
    # Interned: the same namespaces, apps and workloads recur in thousands of series.
    labels = {name: sys.intern(value) for name, value in sample.labels}
    short = COUNTERS.get(sample.name)
    if short is not None:
        return SeriesKey(short, *(labels.get(name, "unknown") for name in SERIES_LABELS))
    if sample.name != DURATION_BUCKETS:
        return None
    try:
        index = _BUCKET_INDEX.get(float(labels.get("le", "+Inf")))
    except ValueError:
        return None
    if index is None:
        return None  # a bound Istio does not use: not ours
    return (HistogramKey(*(labels.get(name, "unknown") for name in HISTOGRAM_LABELS)), index)


def _memo_key(memo: LineMemo, head: str) -> _LineKey:
    """``_line_key`` through the memo. A bucket line is remembered without its ``le`` (Envoy
    prints it last), so a histogram's twenty lines share one entry."""
    cut = head.rfind(',le="') if head.startswith(DURATION_BUCKETS) else -1
    if cut < 0 or not head.endswith('"}'):
        found = memo.get(head, ...)
        if found is ...:
            found = memo[head] = _line_key(head.rstrip())
        return found
    base = head[:cut]
    remembered = memo.get(base, ...)
    if remembered is ...:
        whole = _line_key(head)
        remembered = memo[base] = (
            (whole[0], -1) if whole is not None and not isinstance(whole, SeriesKey) else None
        )
    if remembered is None or isinstance(remembered, SeriesKey):
        return None
    try:
        index = _BUCKET_INDEX.get(float(head[cut + 5 : -2]))
    except ValueError:
        return None
    return None if index is None else (remembered[0], index)


def reduce_scrape(text: str, memo: LineMemo | None = None) -> PodScrape:
    """Istio's standard metrics of one ``/stats/prometheus`` page, reduced to the window's keys
    (series that collapse onto one key are summed). ``memo``: parsed label texts, shared
    between the scrapes of one scraper."""
    memo = {} if memo is None else memo
    if len(memo) > _MEMO_LIMIT:
        memo.clear()  # label sets of pods long gone: start over
    counters: dict[SeriesKey, float] = {}
    cumulative: dict[HistogramKey, list[float]] = {}
    for line in text.splitlines():
        if not line.startswith(_PREFIXES):
            continue
        head, _, raw_value = line.rpartition(" ")
        try:
            value = float(raw_value)
        except ValueError:
            continue
        found = _memo_key(memo, head)
        if found is None:
            continue
        if isinstance(found, SeriesKey):
            counters[found] = counters.get(found, 0.0) + value
            continue
        hist, index = found
        buckets = cumulative.get(hist)
        if buckets is None:
            buckets = cumulative[hist] = [0.0] * len(BUCKET_BOUNDS)
        buckets[index] += value
    # Arrays, not tuples of floats: a pod's last scrape stays in memory as its baseline.
    return PodScrape(
        counters=counters, histograms={k: array("d", v) for k, v in cumulative.items()}
    )
