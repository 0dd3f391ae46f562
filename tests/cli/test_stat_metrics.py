"""Golden-signal arithmetic of ``mainsail stat``: Prometheus text parsing and quantiles."""

from __future__ import annotations

import pytest

from mainsail.cli.stat_metrics import (
    golden_signals,
    histogram_quantile,
    parse_prometheus_text,
    series,
)

TEXT = """# TYPE istio_requests_total counter
istio_requests_total{reporter="destination",destination_service_namespace="default",destination_service_name="reviews",response_code="200"} 90
istio_requests_total{reporter="destination",destination_service_namespace="default",destination_service_name="reviews",response_code="503"} 10
istio_requests_total{reporter="source",destination_service_namespace="default",destination_service_name="reviews",response_code="200"} 500
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_namespace="default",destination_service_name="reviews",le="5"} 50
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_namespace="default",destination_service_name="reviews",le="10"} 90
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_namespace="default",destination_service_name="reviews",le="+Inf"} 100
envoy_server_live 1
"""


def test_parse_keeps_labels_and_values() -> None:
    samples = parse_prometheus_text(TEXT + 'odd{a="x \\"q\\""} 2\nbroken line\n')
    assert len(series(samples, "istio_requests_total")) == 3
    assert series(samples, "odd")[0].label("a") == 'x "q"'
    assert series(samples, "envoy_server_live")[0].value == 1.0


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = [(5.0, 50.0), (10.0, 90.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(5.0)
    assert histogram_quantile(0.7, buckets) == pytest.approx(7.5)
    # In the +Inf bucket PromQL answers the highest finite bound.
    assert histogram_quantile(0.99, buckets) == pytest.approx(10.0)
    assert histogram_quantile(0.5, []) is None


def test_golden_signals_over_a_window() -> None:
    before = parse_prometheus_text("")
    after = parse_prometheus_text(TEXT)
    [reviews] = golden_signals(
        before,
        after,
        10.0,
        ("destination_service_namespace", "destination_service_name"),
    )
    assert reviews.key == ("default", "reviews")
    assert reviews.requests == 100  # the destination reporter only
    assert reviews.rps == pytest.approx(10.0)
    assert reviews.success == pytest.approx(0.9)
    assert reviews.p50 == pytest.approx(5.0)
    assert reviews.p90 == pytest.approx(10.0)
