"""The block the Service and Workload dashboards repeat per peer kind (Istio's): requests by
peer and response code, success rate, duration, request and response sizes, TCP bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mainsail.samples.addons.grafana._model import Cell, target, timeseries
from mainsail.samples.addons.grafana._promql import (
    DURATION,
    QUANTILES,
    REQUEST_BYTES,
    REQUESTS,
    RESPONSE_BYTES,
    TCP_RECEIVED,
    TCP_SENT,
    quantile,
    rate,
    rounded,
    success_rate,
    total,
)

SECURITY = "connection_security_policy"


@dataclass(frozen=True, slots=True, kw_only=True)
class Peers:
    """Whose traffic, split by which peer.

    ``security``: split by ``connection_security_policy`` too, which only the server side
    knows (a client reports ``unknown``, Istio's rule), so only server-side blocks set it.
    """

    direction: str  # "Incoming" or "Outgoing"
    noun: str  # "Source", "Service Workload", "Destination"
    matchers: tuple[str, ...]
    by: tuple[str, ...]
    legend: str
    security: bool
    tcp_titles: tuple[str, str]  # (from istio_tcp_received_bytes_total, from _sent_)


def _split(peers: Peers) -> tuple[Sequence[str], str]:
    if not peers.security:
        return peers.by, peers.legend
    return (*peers.by, SECURITY), peers.legend + " ({{connection_security_policy}})"


def _quantiles(peers: Peers, histogram: str) -> list[dict[str, object]]:
    return [
        target(quantile(q, histogram, peers.matchers, peers.by), legend=f"{peers.legend} {name}")
        for name, q in QUANTILES
    ]


def breakdown(peers: Peers) -> tuple[Cell, ...]:
    by, legend = _split(peers)
    m = peers.matchers
    received, sent = peers.tcp_titles
    return (
        timeseries(
            f"{peers.direction} Requests By {peers.noun} And Response Code",
            [
                target(
                    rounded(total(rate(REQUESTS, m), [*by, "response_code"])),
                    legend=f"{legend} : {{{{response_code}}}}",
                )
            ],
            unit="reqps",
        ),
        timeseries(
            f"{peers.direction} Success Rate (non-5xx responses) By {peers.noun}",
            [target(success_rate(m, by), legend=legend)],
            unit="percentunit",
        ),
        timeseries(
            f"{peers.direction} Request Duration By {peers.noun}",
            _quantiles(peers, DURATION),
            unit="ms",
            width=8,
        ),
        timeseries(
            f"{peers.direction} Request Size By {peers.noun}",
            _quantiles(peers, REQUEST_BYTES),
            unit="decbytes",
            width=8,
        ),
        timeseries(
            f"Response Size By {peers.noun}",
            _quantiles(peers, RESPONSE_BYTES),
            unit="decbytes",
            width=8,
        ),
        timeseries(
            received,
            [target(rounded(total(rate(TCP_RECEIVED, m), by)), legend=legend)],
            unit="Bps",
        ),
        timeseries(
            sent, [target(rounded(total(rate(TCP_SENT, m), by)), legend=legend)], unit="Bps"
        ),
    )
