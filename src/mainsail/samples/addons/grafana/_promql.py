"""The PromQL shapes of Istio's dashboards over Istio's standard metric names.

Every range is ``$__rate_interval`` (Grafana: at least four scrape intervals, so a rate always
has two samples); durations are Istio's ``istio_request_duration_milliseconds`` histogram.
"""

from __future__ import annotations

from collections.abc import Sequence

REQUESTS = "istio_requests_total"
DURATION = "istio_request_duration_milliseconds_bucket"
REQUEST_BYTES = "istio_request_bytes_bucket"
RESPONSE_BYTES = "istio_response_bytes_bucket"
TCP_RECEIVED = "istio_tcp_received_bytes_total"
TCP_SENT = "istio_tcp_sent_bytes_total"
TCP_OPENED = "istio_tcp_connections_opened_total"
TCP_CLOSED = "istio_tcp_connections_closed_total"
# Istio's success: anything but a 5xx (a 4xx is the client's fault, not the service's).
NOT_5XX = 'response_code!~"5.."'
QUANTILES = (("P50", "0.50"), ("P90", "0.90"), ("P95", "0.95"), ("P99", "0.99"))


def rate(metric: str, matchers: Sequence[str]) -> str:
    return f"rate({metric}{{{', '.join(matchers)}}}[$__rate_interval])"


def total(expr: str, by: Sequence[str] = ()) -> str:
    return f"sum({expr}) by ({', '.join(by)})" if by else f"sum({expr})"


def rounded(expr: str) -> str:
    return f"round({expr}, 0.001)"


def success_rate(matchers: Sequence[str], by: Sequence[str] = ()) -> str:
    ok = total(rate(REQUESTS, [*matchers, NOT_5XX]), by)
    return f"{ok} / {total(rate(REQUESTS, matchers), by)}"


def quantile(q: str, histogram: str, matchers: Sequence[str], by: Sequence[str] = ()) -> str:
    return f"histogram_quantile({q}, {total(rate(histogram, matchers), ['le', *by])})"
