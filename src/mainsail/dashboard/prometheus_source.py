"""Series from a Prometheus (``--prometheus-url``) instead of the in-memory window: PromQL over
Istio's metric names through ``/api/v1/query_range``, as Istio's Grafana dashboards query."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import aiohttp

from mainsail.dashboard.errors import UnavailableError


def _matchers(labels: Mapping[str, str], extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in sorted(labels.items())]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def queries(labels: Mapping[str, str], window_seconds: float) -> dict[str, str]:
    """The PromQL of each signal for the reports ``labels`` select."""
    w = f"{max(1, math.ceil(window_seconds))}s"
    requests = f"sum(rate(istio_requests_total{_matchers(labels)}[{w}]))"
    five_xx = _matchers(labels, 'response_code=~"5.."')
    errors = f"sum(rate(istio_requests_total{five_xx}[{w}]))"
    buckets = (
        f"sum(rate(istio_request_duration_milliseconds_bucket{_matchers(labels)}[{w}])) by (le)"
    )
    return {
        "rps": requests,
        "error_rate": f"({errors} or vector(0)) / {requests}",
        "p50_ms": f"histogram_quantile(0.5, {buckets})",
        "p99_ms": f"histogram_quantile(0.99, {buckets})",
    }


def _points(body: Mapping[str, Any]) -> list[list[float | None]]:
    result = (body.get("data") or {}).get("result") or []
    if not result:
        return []
    points = []
    for t, value in result[0].get("values") or ():
        number = float(value)
        points.append([float(t), None if math.isnan(number) or math.isinf(number) else number])
    return points


async def prometheus_series(
    url: str,
    labels: Mapping[str, str],
    *,
    start: float,
    end: float,
    step: float,
    window_seconds: float,
) -> dict[str, list[list[float | None]]]:
    found: dict[str, list[list[float | None]]] = {}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(trust_env=False, timeout=timeout) as session:
        for name, promql in queries(labels, window_seconds).items():
            params = {"query": promql, "start": str(start), "end": str(end), "step": f"{step:g}"}
            try:
                async with session.get(f"{url.rstrip('/')}/api/v1/query_range", params=params) as r:
                    body = await r.json(content_type=None)
                    if r.status != 200 or body.get("status") != "success":
                        raise UnavailableError(
                            f"Prometheus at {url} refused {promql!r}: {body.get('error', r.status)}"
                        )
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise UnavailableError(f"Prometheus at {url} did not answer: {exc}") from exc
            found[name] = _points(body)
    return found
