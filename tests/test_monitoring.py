"""The control plane's metrics page: Prometheus text format, istiod's names."""

from __future__ import annotations

import pytest

from mainsail import monitoring
from mainsail.cli.stat_metrics import parse_prometheus_text, series
from mainsail.monitoring import Counter, Gauge, Histogram


def test_counter_gauge_histogram_text_format() -> None:
    counter = Counter("c_total", "A counter.", ("type",))
    counter.inc(type="lds")
    counter.inc(2, type='a"b')
    gauge = Gauge("g", "A gauge.", ("version",))
    gauge.inc(version="1.40")
    gauge.inc(version="1.40")
    gauge.dec(version="1.40")
    histogram = Histogram("h", "A histogram.", buckets=(0.1, 1))
    histogram.observe(0.05)
    histogram.observe(0.5)
    histogram.observe(5)
    text = counter.render() + gauge.render() + histogram.render()
    assert "# TYPE c_total counter\n" in text and "# TYPE h histogram\n" in text
    assert 'c_total{type="a\\"b"} 2\n' in text
    samples = parse_prometheus_text(text)
    assert series(samples, "c_total", type="lds")[0].value == 1
    assert series(samples, "g", version="1.40")[0].value == 1
    assert [s.value for s in series(samples, "h_bucket")] == [1, 2, 3]
    assert series(samples, "h_count")[0].value == 3
    assert series(samples, "h_sum")[0].value == pytest.approx(5.55)


def test_wrong_labels_name_the_metric() -> None:
    with pytest.raises(ValueError, match="metric c_total: labels"):
        Counter("c_total", "A counter.", ("type",)).inc(kind="x")


def test_hooks_count_with_istiod_labels() -> None:
    class Response:
        type_url = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

    before = monitoring.XDS_PUSHES.value(type="cds")
    monitoring.xds_sent([Response(), Response()])
    assert monitoring.XDS_PUSHES.value(type="cds") == before + 2
    events = monitoring.CONFIG_EVENTS.value(type="Telemetry", event="add")
    monitoring.config_changed([("Telemetry", "created"), ("Telemetry", "unchanged")])
    assert monitoring.CONFIG_EVENTS.value(type="Telemetry", event="add") == events + 1
    page = monitoring.render()
    for name in (
        "pilot_xds",
        "pilot_xds_pushes",
        "pilot_total_xds_rejects",
        "pilot_xds_push_time",
        "pilot_proxy_convergence_time",
        "pilot_k8s_cfg_events",
        "citadel_server_csr_count",
        "citadel_server_success_cert_issuance_count",
    ):
        assert f"# TYPE {name} " in page


def test_a_nack_counts_one_reject_of_its_type() -> None:
    from mainsail.ads.session import Mode
    from mainsail.testing import envoy_config as ec
    from tests.ads.test_session import Wire, mesh

    before = monitoring.XDS_REJECTS.value(type="rds")
    wire = Wire(Mode.SOTW, reject=lambda t, b: None)
    wire.connect(mesh("a", route_to="a"))
    bad = ec.route_to("r", "a", regex="(")
    wire.client.reject = lambda t, b: (
        "bad regex" if any(x.value == bad.body.value for x in b) else None
    )
    wire.push(mesh("a", route_to="a", regex="("), 2)
    assert monitoring.XDS_REJECTS.value(type="rds") == before + 1
    assert 'pilot_total_xds_rejects{type="rds"}' in monitoring.render()
