"""Summing requests, errors, codes, mTLS and latency buckets for one edge, node or group, and
the JSON figures they give (rps, error rate, p50/p99)."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import add

from mainsail.dashboard.metrics_window import BUCKET_BOUNDS, SeriesKey


def is_error(key: SeriesKey) -> bool:
    """Kiali's and Istio's dashboards' error: a 5xx, or a gRPC status other than OK."""
    if key.response_code.startswith("5"):
        return True
    return key.request_protocol == "grpc" and key.grpc_response_status not in ("", "0", "unknown")


def quantile_ms(q: float, per_bucket: list[float]) -> float | None:
    """PromQL's ``histogram_quantile`` (``telemetry.golden_signals``) over per-bucket counts
    (the window stores them per bucket), without sorting: the bounds are Istio's, in order."""
    cumulative = list(accumulate(per_bucket))
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return None
    rank = q * total
    index = bisect_left(cumulative, rank)
    lower_bound = BUCKET_BOUNDS[index - 1] if index else 0.0
    lower_count = cumulative[index - 1] if index else 0.0
    bound, count = BUCKET_BOUNDS[index], cumulative[index]
    if math.isinf(bound):
        return round(lower_bound, 3)
    if count == lower_count:
        return round(bound, 3)
    return round(
        lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count), 3
    )


@dataclass
class Tally:
    """Mutable while one pure function sums into it; read once through ``figures``."""

    requests: float = 0.0
    errors: float = 0.0
    codes: dict[str, float] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKET_BOUNDS))
    has_buckets: bool = False
    # Requests (or TCP connections) the serving side saw, and how many of them were mTLS.
    secured: float = 0.0
    seen_by_server: float = 0.0
    tcp_bytes: float = 0.0
    tcp_connections: float = 0.0

    def add_requests(self, key: SeriesKey, count: float) -> None:
        flag = key.response_flags if key.response_flags not in ("-", "", "unknown") else ""
        self.add_outcome(count, is_error(key), key.response_code, flag)

    def add_outcome(self, count: float, error: bool, code: str, flag: str) -> None:
        self.requests += count
        if error:
            self.errors += count
        self.codes[code] = self.codes.get(code, 0.0) + count
        if flag:
            self.flags[flag] = self.flags.get(flag, 0.0) + count

    def add_security(self, key: SeriesKey, count: float) -> None:
        self.seen_by_server += count
        if key.connection_security_policy == "mutual_tls":
            self.secured += count

    def add_buckets(self, per_bucket: Sequence[float]) -> None:
        self.has_buckets = True
        self.buckets = list(map(add, self.buckets, per_bucket))

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        for code, count in other.codes.items():
            self.codes[code] = self.codes.get(code, 0.0) + count
        for flag, count in other.flags.items():
            self.flags[flag] = self.flags.get(flag, 0.0) + count
        if other.has_buckets:
            self.add_buckets(other.buckets)
        self.secured += other.secured
        self.seen_by_server += other.seen_by_server
        self.tcp_bytes += other.tcp_bytes
        self.tcp_connections += other.tcp_connections

    def figures(self, seconds: float) -> dict[str, float | None]:
        """rps, error_rate, p50_ms, p99_ms (None: nobody measured it)."""
        rate = (lambda n: round(n / seconds, 4)) if seconds > 0 else (lambda n: 0.0)
        return {
            "rps": rate(self.requests),
            "error_rate": round(self.errors / self.requests, 4) if self.requests else None,
            "p50_ms": quantile_ms(0.5, self.buckets) if self.has_buckets else None,
            "p99_ms": quantile_ms(0.99, self.buckets) if self.has_buckets else None,
        }

    def mtls_percent(self) -> float | None:
        if not self.seen_by_server:
            return None
        return round(100.0 * self.secured / self.seen_by_server, 1)

    def per_second(self, counts: dict[str, float], seconds: float) -> dict[str, float]:
        if seconds <= 0:
            return {k: 0.0 for k in sorted(counts)}
        return {k: round(v / seconds, 4) for k, v in sorted(counts.items())}
