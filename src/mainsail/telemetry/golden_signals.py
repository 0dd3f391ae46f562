"""Golden signals over two scrapes a window apart: requests per second, success rate (non-5xx,
Istio's and Linkerd's definition) and latency quantiles interpolated inside
``istio_request_duration_milliseconds`` buckets as PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mainsail.telemetry.prometheus_text import Labels, Sample, series


@dataclass(frozen=True, slots=True)
class GoldenSignals:
    key: tuple[str, ...]  # the values of the grouping labels
    requests: float
    rps: float
    success: float | None  # None: no requests in the window
    p50: float | None
    p90: float | None
    p99: float | None


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative (upper bound, count) buckets."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return ordered[-1][0]


def _delta(before: Mapping[Labels, float], after: Mapping[Labels, float]) -> dict[Labels, float]:
    # A series that restarted (its Envoy did) counts from zero.
    return {k: (v - before.get(k, 0.0) if v >= before.get(k, 0.0) else v) for k, v in after.items()}


def _by_labels(samples: Iterable[Sample], name: str, reporter: str) -> dict[Labels, float]:
    found: dict[Labels, float] = {}
    for s in series(samples, name, reporter=reporter):
        found[s.labels] = found.get(s.labels, 0.0) + s.value
    return found


def golden_signals(
    before: Sequence[Sample],
    after: Sequence[Sample],
    seconds: float,
    group_by: Sequence[str],
    reporter: str = "destination",
) -> list[GoldenSignals]:
    """Per value of the ``group_by`` labels (e.g. ``destination_service_namespace``,
    ``destination_service_name``), over the window between the two scrapes."""
    requests = _delta(
        _by_labels(before, "istio_requests_total", reporter),
        _by_labels(after, "istio_requests_total", reporter),
    )
    buckets = _delta(
        _by_labels(before, "istio_request_duration_milliseconds_bucket", reporter),
        _by_labels(after, "istio_request_duration_milliseconds_bucket", reporter),
    )
    totals: dict[tuple[str, ...], float] = {}
    ok: dict[tuple[str, ...], float] = {}
    for labels, count in requests.items():
        values = dict(labels)
        key = tuple(values.get(label, "unknown") for label in group_by)
        totals[key] = totals.get(key, 0.0) + count
        if not values.get("response_code", "").startswith("5"):
            ok[key] = ok.get(key, 0.0) + count
    per_group: dict[tuple[str, ...], dict[float, float]] = {}
    for labels, count in buckets.items():
        values = dict(labels)
        key = tuple(values.get(label, "unknown") for label in group_by)
        bound = float(values.get("le", "+Inf"))
        group = per_group.setdefault(key, {})
        group[bound] = group.get(bound, 0.0) + count
    result = []
    for key in sorted(totals):
        hist = sorted(per_group.get(key, {}).items())
        total = totals[key]
        result.append(
            GoldenSignals(
                key=key,
                requests=total,
                rps=total / seconds if seconds > 0 else 0.0,
                success=ok.get(key, 0.0) / total if total else None,
                p50=histogram_quantile(0.5, hist),
                p90=histogram_quantile(0.9, hist),
                p99=histogram_quantile(0.99, hist),
            )
        )
    return result
