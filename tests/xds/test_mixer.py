"""``xds.mixer``: what the book's Mixer rules become on each kind of listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.fluentd.v3 import fluentd_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2

from mainsail import naming
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import ProxyView
from mainsail.xds.mixer import mixer_access_loggers, mixer_endpoints
from mainsail.xds.mixer_metric_names import mixer_metric_names
from mainsail.xds.telemetry import http_telemetry, tcp_telemetry

BOOK = Path(__file__).parents[2] / "src" / "mainsail" / "samples" / "book" / "telemetry"
NODE = ProxyNode(
    node_id="sidecar~10.0.0.1~productpage-v1-0.default~default.svc.cluster.local",
    proxy_type="sidecar",
    ip="10.0.0.1",
    pod_name="productpage-v1-0",
    namespace="default",
    labels=(("app", "productpage"), ("version", "v1")),
    workload_name="productpage-v1",
)
VIEW = ProxyView(node=NODE, workload=None, visible_services=(), inbound=())


def _snapshot() -> MeshSnapshot:
    text = "\n---\n".join(p.read_text() for p in sorted(BOOK.glob("*.yaml")))
    return build_snapshot(parse_documents(text, "book").resources)


def test_http_listener_gets_promhttp_and_fluentd_not_promtcp() -> None:
    loggers = mixer_access_loggers(_snapshot(), VIEW, "outbound", 15001, "http")
    assert [logger.name for logger in loggers] == [
        "envoy.access_loggers.stats",
        "envoy.access_loggers.fluentd",
    ]
    stats = stats_pb2.Config()
    loggers[0].typed_config.Unpack(stats)
    assert [c.stat.name for c in stats.counters] == ["requests_total"]
    assert [h.stat.name for h in stats.histograms] == [
        "request_duration_seconds",
        "request_bytes",
        "response_bytes",
    ]
    tags = {t.name: t.value_format for t in stats.counters[0].stat.tags}
    assert tags["reporter"] == "source"
    assert tags["source_app"] == "productpage"
    assert tags["response_code"] == "%RESPONSE_CODE%"
    assert stats.histograms[0].unit == stats_pb2.Config.Histogram.Milliseconds
    cel = cel_pb2.ExpressionFilter()
    loggers[0].filter.extension_filter.typed_config.Unpack(cel)
    assert 'startsWith("kube-probe")' in cel.expression
    # istiologtofluentd matches "true": no filter.
    assert not loggers[1].HasField("filter")
    fluentd = fluentd_pb2.FluentdAccessLogConfig()
    loggers[1].typed_config.Unpack(fluentd)
    assert fluentd.tag == "istiolog.logentry.istio-system"
    assert fluentd.record["severity"] == "warning"


def test_tcp_listener_gets_promtcp_at_connection_end() -> None:
    loggers = mixer_access_loggers(_snapshot(), VIEW, "outbound", 27017, "tcp")
    stats = stats_pb2.Config()
    loggers[0].typed_config.Unpack(stats)
    assert [c.stat.name for c in stats.counters] == [
        "tcp_sent_bytes_total",
        "tcp_received_bytes_total",
    ]
    assert stats.counters[0].value_format == "%BYTES_SENT%"
    # promtcp's match folds to true on a tcp_proxy: only the connection-end filter stays.
    assert loggers[0].filter.log_type_filter.types


def test_fluentd_endpoint_is_the_handler_address() -> None:
    (assignment,) = mixer_endpoints(_snapshot(), VIEW)
    assert assignment.cluster_name == naming.MIXER_FLUENTD_CLUSTER
    address = assignment.endpoints[0].lb_endpoints[0].endpoint.address
    assert (address.socket_address.address, address.socket_address.port_value) == (
        "127.0.0.1",
        24224,
    )


def test_rules_of_another_namespace_do_not_apply() -> None:
    text = (BOOK / "04-fluentd-logentry.yaml").read_text().replace("istio-system", "other")
    snapshot = build_snapshot(parse_documents(text, "t").resources)
    assert mixer_access_loggers(snapshot, VIEW, "outbound", 15001, "http") == []
    # Always sent (the bootstrap cluster waits for it), empty here.
    (assignment,) = mixer_endpoints(snapshot, VIEW)
    assert not assignment.endpoints


def test_a_rule_that_does_not_compile_is_left_out_not_fatal() -> None:
    # Validation refuses it at apply time; a store loaded without validation must not break
    # the proxy's config.
    text = (BOOK / "04-fluentd-logentry.yaml").read_text().replace('"true"', "request.path")
    snapshot = build_snapshot(parse_documents(text, "t").resources)
    assert mixer_access_loggers(snapshot, VIEW, "outbound", 15001, "http") == []


def _stat_names(loggers: list[Any]) -> list[str]:
    names = []
    for logger in loggers:
        if logger.name != "envoy.access_loggers.stats":
            continue
        stats = stats_pb2.Config()
        logger.typed_config.Unpack(stats)
        names += [c.stat.name for c in stats.counters]
        names += [h.stat.name for h in stats.histograms]
    return names


def test_the_book_handler_replaces_the_standard_metrics_of_its_names() -> None:
    """Istio 1.0/1.1's standard metrics were this handler's: a pod shows ``istio_requests_total``
    once, with the handler's labels; the standard metrics it does not name stay."""
    snapshot = _snapshot()
    names = mixer_metric_names(snapshot, VIEW)
    assert names == {
        "requests_total",
        "request_duration_seconds",
        "request_bytes",
        "response_bytes",
        "tcp_sent_bytes_total",
        "tcp_received_bytes_total",
        "tcp_connections_opened_total",
        "tcp_connections_closed_total",
    }
    _, http = http_telemetry(MeshConfig(), VIEW, "outbound", 15001, None, names)
    assert _stat_names(http) == ["request_duration_milliseconds"]
    tcp = tcp_telemetry(MeshConfig(), VIEW, "outbound", 27017, None, names)
    assert _stat_names(tcp) == []
    # Without Mixer rules for this proxy's namespace nothing is replaced.
    elsewhere = ProxyView(
        node=ProxyNode(
            node_id="sidecar~10.0.0.2~a-0.other~other.svc.cluster.local",
            proxy_type="sidecar",
            ip="10.0.0.2",
            pod_name="a-0",
            namespace="other",
            workload_name="a",
        ),
        workload=None,
        visible_services=(),
        inbound=(),
    )
    text = "\n---\n".join(p.read_text() for p in sorted(BOOK.glob("0[123]*.yaml")))
    scoped = build_snapshot(parse_documents(text.replace("istio-system", "default"), "t").resources)
    assert mixer_metric_names(scoped, elsewhere) == frozenset()
    assert "requests_total" in mixer_metric_names(scoped, VIEW)


_SECOND_HANDLER = """
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: aaa, namespace: default}
spec:
  compiledAdapter: prometheus
  params:
    metrics:
    - name: requests_total
      instance_name: mine.metric.default
      kind: COUNTER
      label_names: [reporter]
    - instance_name: mine.metric.default
      kind: COUNTER
      label_names: [reporter]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: mine, namespace: default}
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      reporter: 'conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")'
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: mine, namespace: default}
spec:
  actions:
  - handler: aaa
    instances: [mine.metric]
"""


def test_one_name_two_label_sets_keeps_the_first_handler_as_mixers_registry() -> None:
    """Mixer's adapter had one registry: a second metric of a name with other labels failed to
    register. Here the first by handler namespace and name stays (default/aaa before
    istio-system/prometheus); a metric without ``name`` is named by its instance, made safe."""
    text = "\n---\n".join(p.read_text() for p in sorted(BOOK.glob("0[123]*.yaml")))
    parsed = parse_documents(text + "\n---\n" + _SECOND_HANDLER, "t")
    assert not parsed.errors
    snapshot = build_snapshot(parsed.resources)
    loggers = mixer_access_loggers(snapshot, VIEW, "outbound", 15001, "http")
    found: dict[str, list[list[str]]] = {}
    for logger in loggers:
        stats = stats_pb2.Config()
        logger.typed_config.Unpack(stats)
        for counter in stats.counters:
            found.setdefault(counter.stat.name, []).append([t.name for t in counter.stat.tags])
    assert found["requests_total"] == [["reporter"]]
    assert found["mine_metric_default"] == [["reporter"]]
    assert "mine_metric_default" in mixer_metric_names(snapshot, VIEW)
