"""Istio's Workload Dashboard: one workload's inbound traffic by source and its outbound
traffic by destination service."""

from __future__ import annotations

from mainsail.samples.addons.grafana._breakdowns import Peers, breakdown
from mainsail.samples.addons.grafana._model import (
    CLIENT,
    SERVER,
    Json,
    Section,
    dashboard,
    query_variable,
    stat,
    target,
    timeseries,
)
from mainsail.samples.addons.grafana._promql import (
    DURATION,
    QUANTILES,
    REQUESTS,
    TCP_RECEIVED,
    TCP_SENT,
    quantile,
    rate,
    rounded,
    success_rate,
    total,
)
from mainsail.samples.addons.grafana._variables import TRAFFIC, all_of

UID = "mainsail-istio-workload"
AS_SERVER = ('destination_workload_namespace=~"$namespace"', 'destination_workload=~"$workload"')
AS_CLIENT = ('source_workload_namespace=~"$namespace"', 'source_workload=~"$workload"')


def _either_side(label: str, destination_matcher: str, source_matcher: str) -> str:
    """Values of a workload label whether the workload served or called: a gateway or a
    client-only pod is a workload too. ``label_values`` reads one label, so this is Istio's
    ``query_result`` over both, one label per line, read back by the variable's regex."""
    dst = f"sum by (destination_{label}) ({{{TRAFFIC}, {destination_matcher}}})"
    src = f"sum by (source_{label}) ({{{TRAFFIC}, {source_matcher}}})"
    return f"query_result({dst} or {src})"


def _tcp_traffic(matchers: tuple[str, ...]) -> str:
    return f"{total(rate(TCP_SENT, matchers))} + {total(rate(TCP_RECEIVED, matchers))}"


def build() -> Json:
    inbound = (SERVER, *AS_SERVER)
    outbound = (CLIENT, *AS_CLIENT)
    return dashboard(
        uid=UID,
        title="Istio Workload Dashboard (Mainsail)",
        description="Istio's workload dashboard on Istio's standard metrics: one workload's "
        "inbound and outbound traffic.",
        variables=(
            query_variable(
                "namespace",
                "Namespace",
                _either_side(
                    "workload_namespace",
                    'destination_workload_namespace!="unknown"',
                    'source_workload_namespace!="unknown"',
                ),
                regex='/.*_namespace="([^"]*)".*/',
                default="default",
            ),
            query_variable(
                "workload",
                "Workload",
                _either_side(
                    "workload",
                    'destination_workload_namespace=~"$namespace"',
                    'source_workload_namespace=~"$namespace"',
                ),
                regex='/.*workload="([^"]*)".*/',
            ),
            all_of("srcns", "source_workload_namespace", "Inbound Workload Namespace", *inbound),
            all_of(
                "srcwl",
                "source_workload",
                "Inbound Workload",
                *inbound,
                'source_workload_namespace=~"$srcns"',
            ),
            all_of("dstsvc", "destination_service", "Destination Service", *outbound),
        ),
        sections=(
            Section(
                title="General",
                cells=(
                    stat(
                        "Incoming Request Volume",
                        rounded(total(rate(REQUESTS, inbound))),
                        unit="reqps",
                        width=8,
                    ),
                    stat(
                        "Incoming Success Rate (non-5xx responses)",
                        success_rate(inbound),
                        unit="percentunit",
                        width=8,
                    ),
                    timeseries(
                        "Request Duration",
                        [
                            target(quantile(q, DURATION, inbound), legend=name)
                            for name, q in QUANTILES
                            if name != "P95"
                        ],
                        unit="ms",
                        width=8,
                        height=4,
                    ),
                    stat(
                        "TCP Server Traffic",
                        _tcp_traffic(inbound),
                        unit="Bps",
                        description="Bytes per second in and out of the workload's inbound "
                        "TCP connections.",
                        width=12,
                    ),
                    stat(
                        "TCP Client Traffic",
                        _tcp_traffic(outbound),
                        unit="Bps",
                        description="Bytes per second in and out of the workload's outbound "
                        "TCP connections.",
                        width=12,
                    ),
                ),
            ),
            Section(
                title="Inbound Workloads",
                cells=breakdown(
                    Peers(
                        direction="Incoming",
                        noun="Source",
                        matchers=(
                            *inbound,
                            'source_workload=~"$srcwl"',
                            'source_workload_namespace=~"$srcns"',
                        ),
                        by=("source_workload", "source_workload_namespace"),
                        legend="{{source_workload}}.{{source_workload_namespace}}",
                        security=True,
                        tcp_titles=(
                            "Bytes Received from Incoming TCP Connection",
                            "Bytes Sent to Incoming TCP Connection",
                        ),
                    )
                ),
            ),
            Section(
                title="Outbound Services",
                cells=breakdown(
                    Peers(
                        direction="Outgoing",
                        noun="Destination",
                        matchers=(*outbound, 'destination_service=~"$dstsvc"'),
                        by=("destination_service",),
                        legend="{{destination_service}}",
                        security=False,
                        # The client's proxy receives from its app what it sends on.
                        tcp_titles=(
                            "Bytes Sent on Outgoing TCP Connection",
                            "Bytes Received from Outgoing TCP Connection",
                        ),
                    )
                ),
            ),
        ),
    )
