"""Istio's Service Dashboard: one service, as its clients and its own workloads see it."""

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
from mainsail.samples.addons.grafana._variables import all_of, label_values

UID = "mainsail-istio-service"
SERVICE = 'destination_service="$service"'


def _general(side: str, reporter: str) -> Section:
    m = (reporter, SERVICE)
    seen = "its clients' proxies" if reporter == CLIENT else "the service's own sidecars"
    tcp_title, tcp_metric = (
        ("TCP Received Bytes", TCP_RECEIVED) if reporter == CLIENT else ("TCP Sent Bytes", TCP_SENT)
    )
    return Section(
        title=f"{side} view",
        cells=(
            stat(
                f"{side} Request Volume",
                rounded(total(rate(REQUESTS, m))),
                unit="reqps",
                description=f"Requests per second to the service, as {seen} count them.",
            ),
            stat(
                f"{side} Success Rate (non-5xx responses)",
                success_rate(m),
                unit="percentunit",
            ),
            timeseries(
                f"{side} Request Duration",
                [
                    target(quantile(q, DURATION, m), legend=name)
                    for name, q in QUANTILES
                    if name != "P95"
                ],
                unit="ms",
                width=6,
                height=4,
            ),
            stat(tcp_title, total(rate(tcp_metric, m)), unit="Bps"),
        ),
    )


def build() -> Json:
    sources = (
        SERVER,
        SERVICE,
        'source_workload=~"$srcwl"',
        'source_workload_namespace=~"$srcns"',
    )
    workloads = (SERVER, SERVICE, 'destination_workload=~"$dstwl"')
    return dashboard(
        uid=UID,
        title="Istio Service Dashboard (Mainsail)",
        description="Istio's service dashboard on Istio's standard metrics: one service, "
        "from its clients and from its workloads.",
        variables=(
            query_variable(
                "namespace",
                "Namespace",
                label_values("destination_service_namespace"),
                default="default",
            ),
            query_variable(
                "service",
                "Service",
                label_values("destination_service", 'destination_service_namespace="$namespace"'),
            ),
            all_of(
                "srcns", "source_workload_namespace", "Client Workload Namespace", SERVER, SERVICE
            ),
            all_of(
                "srcwl",
                "source_workload",
                "Client Workload",
                SERVER,
                SERVICE,
                'source_workload_namespace=~"$srcns"',
            ),
            all_of("dstwl", "destination_workload", "Service Workload", SERVER, SERVICE),
        ),
        sections=(
            _general("Client", CLIENT),
            _general("Server", SERVER),
            Section(
                title="Client Workloads",
                cells=breakdown(
                    Peers(
                        direction="Incoming",
                        noun="Source",
                        matchers=sources,
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
                title="Service Workloads",
                cells=breakdown(
                    Peers(
                        direction="Incoming",
                        noun="Service Workload",
                        matchers=workloads,
                        by=("destination_workload", "destination_workload_namespace"),
                        legend="{{destination_workload}}.{{destination_workload_namespace}}",
                        security=True,
                        tcp_titles=(
                            "Bytes Received from Incoming TCP Connection by Service Workload",
                            "Bytes Sent to Incoming TCP Connection by Service Workload",
                        ),
                    )
                ),
            ),
        ),
    )
