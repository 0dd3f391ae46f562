"""The edge arithmetic: the quantile over per-bucket counts is PromQL's histogram_quantile."""

from __future__ import annotations

import random
from itertools import accumulate

import pytest

from mainsail.dashboard.metrics_window import BUCKET_BOUNDS
from mainsail.dashboard.tally import Tally, quantile_ms
from mainsail.telemetry.golden_signals import histogram_quantile


@pytest.mark.parametrize("seed", range(20))
def test_quantile_equals_histogram_quantile(seed: int) -> None:
    rnd = random.Random(seed)
    per_bucket = [float(rnd.choice([0, 0, 0, 1, 3, 10])) for _ in BUCKET_BOUNDS]
    cumulative = list(zip(BUCKET_BOUNDS, accumulate(per_bucket), strict=True))
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        expected = histogram_quantile(q, cumulative)
        found = quantile_ms(q, per_bucket)
        assert found == (None if expected is None else round(expected, 3)), (q, per_bucket)


def test_edges_of_the_histogram() -> None:
    empty = [0.0] * len(BUCKET_BOUNDS)
    assert quantile_ms(0.5, empty) is None
    only_inf = [*empty[:-1], 4.0]
    assert quantile_ms(0.5, only_inf) == 3600000.0  # the last finite bound, as PromQL
    first = [2.0, *empty[1:]]
    assert quantile_ms(0.5, first) == 0.25


def test_figures_of_nothing_measured_are_null() -> None:
    assert Tally().figures(10) == {"rps": 0.0, "error_rate": None, "p50_ms": None, "p99_ms": None}
