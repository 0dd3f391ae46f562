"""The template variables the Service and Workload dashboards share (Istio's, renamed only
where Istio's names are cryptic nowhere: ``srcns``, ``srcwl``, ``dstwl``, ``dstsvc`` stay)."""

from __future__ import annotations

from mainsail.samples.addons.grafana._model import Json, query_variable

# HTTP/gRPC and TCP traffic: a TCP-only service or workload is listed too.
TRAFFIC = '__name__=~"istio_requests_total|istio_tcp_sent_bytes_total"'


def label_values(label: str, *matchers: str) -> str:
    return f"label_values({{{', '.join((TRAFFIC, *matchers))}}}, {label})"


def all_of(name: str, label: str, title: str, *matchers: str) -> Json:
    """A multi-value filter defaulting to All (``.*``)."""
    return query_variable(name, title, label_values(label, *matchers), include_all=True)
