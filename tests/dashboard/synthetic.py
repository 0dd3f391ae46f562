"""Synthetic Istio metric pages (what a pod's ``:15090/stats/prometheus`` holds) for the
dashboard's unit tests and benchmark-like checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mainsail.dashboard.metrics_window import BUCKET_BOUNDS

_DEFAULTS = {
    "reporter": "destination",
    "source_workload": "unknown",
    "source_canonical_service": "unknown",
    "source_canonical_revision": "latest",
    "source_workload_namespace": "unknown",
    "source_principal": "unknown",
    "source_app": "unknown",
    "source_version": "unknown",
    "source_cluster": "Kubernetes",
    "destination_workload": "unknown",
    "destination_workload_namespace": "unknown",
    "destination_principal": "unknown",
    "destination_app": "unknown",
    "destination_version": "unknown",
    "destination_service": "unknown",
    "destination_canonical_service": "unknown",
    "destination_canonical_revision": "latest",
    "destination_service_name": "unknown",
    "destination_service_namespace": "unknown",
    "destination_cluster": "Kubernetes",
    "request_protocol": "http",
    "response_code": "200",
    "grpc_response_status": "",
    "response_flags": "-",
    "connection_security_policy": "unknown",
}


def _labels(values: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in values.items())


def caller(namespace: str, workload: str, app: str = "", version: str = "v1") -> dict[str, str]:
    return {
        "source_workload": workload,
        "source_workload_namespace": namespace,
        "source_app": app or workload.rsplit("-", 1)[0],
        "source_version": version,
        "source_principal": f"spiffe://cluster.local/ns/{namespace}/sa/{app or workload}",
    }


def server(
    namespace: str, workload: str, service: str, app: str = "", version: str = "v1"
) -> dict[str, str]:
    return {
        "destination_workload": workload,
        "destination_workload_namespace": namespace,
        "destination_app": app or workload.rsplit("-", 1)[0],
        "destination_version": version,
        "destination_service": f"{service}.{namespace}.svc.cluster.local",
        "destination_service_name": service,
        "destination_service_namespace": namespace,
    }


@dataclass
class Page:
    """One pod's page: request counters and duration histograms, cumulative like Envoy's."""

    lines: list[str] = field(default_factory=list)

    def requests(self, count: float, **labels: str) -> Page:
        values = {**_DEFAULTS, **labels}
        self.lines.append(f"istio_requests_total{{{_labels(values)}}} {count:g}")
        return self

    def durations(self, observations: Iterable[float], **labels: str) -> Page:
        """Cumulative ``le`` buckets holding ``observations`` (milliseconds)."""
        values = {**_DEFAULTS, **labels}
        seen = list(observations)
        for bound in BUCKET_BOUNDS:
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            count = sum(1 for o in seen if o <= bound)
            self.lines.append(
                f'istio_request_duration_milliseconds_bucket{{{_labels(values)},le="{le}"}} {count}'
            )
        self.lines.append(
            f"istio_request_duration_milliseconds_count{{{_labels(values)}}} {len(seen)}"
        )
        return self

    def tcp(self, opened: float, received: float, **labels: str) -> Page:
        values = {**_DEFAULTS, "request_protocol": "tcp", **labels}
        del values["response_code"], values["grpc_response_status"]
        self.lines.append(f"istio_tcp_connections_opened_total{{{_labels(values)}}} {opened:g}")
        self.lines.append(f"istio_tcp_received_bytes_total{{{_labels(values)}}} {received:g}")
        return self

    def text(self) -> str:
        noise = [
            "# TYPE envoy_cluster_upstream_cx_total counter",
            'envoy_cluster_upstream_cx_total{envoy_cluster_name="xds-grpc"} 3',
            "# TYPE istio_requests_total counter",
        ]
        return "\n".join([*noise, *self.lines]) + "\n"
