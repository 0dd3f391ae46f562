"""The book's examples parse into typed models with snake_case attributes."""

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from mainsail.config.istio import (
    DestinationRule,
    Gateway,
    ServiceEntry,
    Sidecar,
    VirtualService,
    WorkloadEntry,
    WorkloadGroup,
)
from mainsail.config.istio.virtual_service import StringMatch
from mainsail.config.parse import parse_documents

CORPUS = Path(__file__).parent.parent / "corpus" / "valid"


def _load(name: str) -> object:
    result = parse_documents((CORPUS / f"{name}.yaml").read_text(), name)
    assert result.errors == ()
    (resource,) = result.resources
    return resource


def test_virtual_service_weighted_subsets() -> None:
    vs = _load("vs-weighted-subsets")
    assert isinstance(vs, VirtualService)
    assert vs.api_version == "networking.istio.io/v1alpha3"
    assert vs.spec.hosts == ("reviews",)
    routes = vs.spec.http[0].route
    assert [(r.destination.host, r.destination.subset, r.weight) for r in routes] == [
        ("reviews", "v1", 50),
        ("reviews", "v3", 50),
    ]


def test_virtual_service_matches_retries_fault_mirror() -> None:
    vs = _load("vs-match-end-user")
    assert isinstance(vs, VirtualService)
    assert vs.spec.http[0].match[0].headers["end-user"] == StringMatch(exact="jason")
    retry = _load("vs-retries-timeout")
    assert isinstance(retry, VirtualService)
    http = retry.spec.http[0]
    assert http.timeout == timedelta(seconds=10)
    assert http.retries is not None
    assert http.retries.per_try_timeout == timedelta(seconds=2)
    assert http.retries.backoff == timedelta(milliseconds=100)
    port = http.route[0].destination.port
    assert port is not None and port.number == 9080
    fault = _load("vs-fault-delay")
    assert isinstance(fault, VirtualService)
    delay = fault.spec.http[1].fault.delay if fault.spec.http[1].fault else None
    assert delay is not None
    assert delay.fixed_delay == timedelta(seconds=90)
    assert delay.percent == 10
    mirror = _load("vs-mirror-percent-legacy")
    assert isinstance(mirror, VirtualService)
    assert [h.mirror_percent for h in mirror.spec.http] == [50, 10]
    cors = _load("vs-rewrite-cors")
    assert isinstance(cors, VirtualService)
    match = cors.spec.http[0].match[0]
    assert match.uri is not None and match.uri.prefix == "/ratings"
    assert match.ignore_uri_case is True
    headers = _load("vs-header-operations")
    assert isinstance(headers, VirtualService)
    ops = headers.spec.http[0].headers
    assert ops is not None and ops.request is not None
    assert ops.request.set == {"x-mesh": "mainsail"}


def test_destination_rule_subsets_and_policy() -> None:
    dr = _load("dr-subsets")
    assert isinstance(dr, DestinationRule)
    assert [(s.name, dict(s.labels)) for s in dr.spec.subsets] == [
        ("v1", {"version": "v1"}),
        ("v2", {"version": "v2"}),
        ("v3", {"version": "v3"}),
    ]
    cb = _load("dr-traffic-policy")
    assert isinstance(cb, DestinationRule)
    policy = cb.spec.traffic_policy
    assert policy is not None and policy.connection_pool is not None
    assert policy.connection_pool.tcp is not None
    assert policy.connection_pool.tcp.connect_timeout == timedelta(milliseconds=30)
    assert policy.connection_pool.http is not None
    assert policy.connection_pool.http.http1_max_pending_requests == 1
    assert policy.outlier_detection is not None
    assert policy.outlier_detection.consecutive_5xx_errors == 7
    assert policy.outlier_detection.base_ejection_time == timedelta(minutes=15)
    hashed = _load("dr-header-hash-maglev")
    assert isinstance(hashed, DestinationRule)
    lb = hashed.spec.traffic_policy.load_balancer if hashed.spec.traffic_policy else None
    assert lb is not None and lb.consistent_hash is not None
    assert lb.consistent_hash.http_header_name == "x-user"
    legacy = _load("dr-legacy-consecutive-errors")
    assert isinstance(legacy, DestinationRule)
    assert legacy.spec.traffic_policy is not None
    assert legacy.spec.traffic_policy.outlier_detection is not None
    assert legacy.spec.traffic_policy.outlier_detection.consecutive_errors == 5
    locality = _load("dr-locality")
    assert isinstance(locality, DestinationRule)
    tp = locality.spec.traffic_policy
    assert tp is not None and tp.load_balancer is not None
    assert tp.load_balancer.simple == "ROUND_ROBIN"
    setting = tp.load_balancer.locality_lb_setting
    assert setting is not None and setting.distribute[0].from_ == "us-west/zone1/*"


def test_service_entry_gateway_sidecar_workloads() -> None:
    se = _load("se-external-https")
    assert isinstance(se, ServiceEntry)
    assert (se.spec.resolution, se.spec.location) == ("DNS", "MESH_EXTERNAL")
    assert se.spec.ports[0].number == 443
    gw = _load("gw-http")
    assert isinstance(gw, Gateway)
    assert gw.spec.selector == {"istio": "ingressgateway"}
    assert gw.spec.servers[0].port.number == 80
    assert gw.spec.servers[0].hosts == ("*",)
    https = _load("gw-https-credential")
    assert isinstance(https, Gateway)
    tls = https.spec.servers[0].tls
    assert tls is not None and tls.mode == "SIMPLE" and tls.credential_name == "bookinfo-secret"
    sc = _load("sidecar-ingress")
    assert isinstance(sc, Sidecar)
    assert sc.spec.ingress[0].default_endpoint == "127.0.0.1:8080"
    assert sc.spec.egress[1].hosts == ("istio-system/*",)
    we = _load("we-vm")
    assert isinstance(we, WorkloadEntry)
    assert we.spec.ports == {"http": 8080}
    wg = _load("wg-http-probe")
    assert isinstance(wg, WorkloadGroup)
    assert wg.spec.probe is not None and wg.spec.probe.http_get is not None
    assert wg.spec.probe.http_get.port == 3100


def test_models_are_frozen_and_constructible_by_name() -> None:
    match = StringMatch(prefix="/")
    with pytest.raises(ValidationError):
        match.prefix = "/x"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="only one of exact, prefix"):
        StringMatch(exact="a", prefix="b")
    vs = VirtualService.model_validate(
        {
            "metadata": {"name": "r"},
            "spec": {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}]},
        }
    )
    assert vs.kind == "VirtualService" and vs.namespace == "default"
    assert isinstance(vs.spec.http, tuple)
