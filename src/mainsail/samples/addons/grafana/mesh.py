"""Istio's Mesh Dashboard: global request volume and success, and a table of every HTTP/gRPC
and TCP workload with links to its Workload and Service dashboards."""

from __future__ import annotations

from mainsail.samples.addons.grafana import service, workload
from mainsail.samples.addons.grafana._model import (
    CLIENT,
    SERVER,
    Column,
    Json,
    Section,
    dashboard,
    stat,
    table,
)
from mainsail.samples.addons.grafana._promql import (
    DURATION,
    REQUESTS,
    TCP_RECEIVED,
    TCP_SENT,
    quantile,
    rate,
    success_rate,
    total,
)

UID = "mainsail-istio-mesh"
WORKLOAD = ("destination_workload", "destination_workload_namespace")
SERVICE = ("destination_service", "destination_service_namespace")


def _volume(*matchers: str) -> str:
    # ``or vector(0)``: no 4xx at all is 0, not "No data".
    return f"round({total(rate(REQUESTS, [CLIENT, *matchers]))}, 0.01) or vector(0)"


def _link(title: str, uid: str, variables: str) -> Json:
    return {"title": title, "url": f"/d/{uid}?${{__url_time_range}}&{variables}"}


_WORKLOAD_LINK = _link(
    "Workload dashboard",
    workload.UID,
    "var-namespace=${__data.fields.destination_workload_namespace}&var-workload=${__value.raw}",
)
_SERVICE_LINK = _link(
    "Service dashboard",
    service.UID,
    "var-namespace=${__data.fields.destination_service_namespace}&var-service=${__value.raw}",
)
_LABELS = (
    ("destination_workload", "Workload", (_WORKLOAD_LINK,)),
    ("destination_workload_namespace", "Namespace", ()),
    ("destination_service", "Service", (_SERVICE_LINK,)),
    ("destination_service_namespace", "Service Namespace", ()),
)


def _http_columns() -> tuple[Column, ...]:
    m = (CLIENT,)
    by = (*WORKLOAD, *SERVICE)
    return (
        Column(ref="requests", title="Requests", unit="reqps", expr=total(rate(REQUESTS, m), by)),
        *(
            Column(
                ref=ref,
                title=f"{ref.upper()} Latency",
                unit="ms",
                expr=quantile(q, DURATION, m, by),
            )
            for ref, q in (("p50", "0.50"), ("p90", "0.90"), ("p99", "0.99"))
        ),
        Column(ref="success", title="Success Rate", unit="percentunit", expr=success_rate(m, by)),
    )


def _tcp_columns() -> tuple[Column, ...]:
    # The server's sidecar: only it knows its own workload for TCP without Istio's TCP
    # metadata exchange (on Mainsail a client reports the TCP peer as ``unknown``).
    m = (SERVER,)
    by = (*WORKLOAD, *SERVICE)
    return (
        Column(
            ref="recv", title="Bytes Received", unit="Bps", expr=total(rate(TCP_RECEIVED, m), by)
        ),
        Column(ref="sent", title="Bytes Sent", unit="Bps", expr=total(rate(TCP_SENT, m), by)),
    )


def build() -> Json:
    return dashboard(
        uid=UID,
        title="Istio Mesh Dashboard (Mainsail)",
        description="Istio's mesh dashboard on Istio's standard metrics: global request volume "
        "and success rate, every HTTP/gRPC and TCP workload.",
        variables=(),
        sections=(
            Section(
                title="Global Traffic",
                cells=(
                    stat(
                        "Traffic Volume",
                        _volume(),
                        unit="reqps",
                        description="Requests per second in the mesh, counted by the clients' proxies and gateways.",
                    ),
                    stat(
                        "Success Rate",
                        success_rate((CLIENT,)),
                        unit="percentunit",
                        description="Share of requests without a 5xx response.",
                    ),
                    stat("4xxs", _volume('response_code=~"4.."'), unit="reqps"),
                    stat("5xxs", _volume('response_code=~"5.."'), unit="reqps"),
                ),
            ),
            Section(
                title="Workloads",
                cells=(
                    table(
                        "HTTP/gRPC Workloads",
                        _http_columns(),
                        labels=_LABELS,
                        description="Request rate, latency and success per destination workload, "
                        "from the clients' side.",
                    ),
                    table(
                        "TCP Workloads",
                        _tcp_columns(),
                        labels=_LABELS,
                        description="Bytes per second of TCP services, from the servers' side.",
                    ),
                ),
            ),
        ),
    )
