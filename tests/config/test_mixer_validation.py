"""The book's Mixer kinds: parsed in both field spellings, validated at apply time (a rule whose
expression does not parse, type-check or compile into Envoy is refused with the reason), and
resolved to handlers and instances as Mixer did."""

from __future__ import annotations

from pathlib import Path

from mainsail.config.errors import ErrorCode
from mainsail.config.mixer.models import FluentdParams, LogEntryParams, PrometheusParams
from mainsail.config.mixer.resolve import resolve_rules
from mainsail.config.parse import parse_documents
from mainsail.config.schema import lookup
from mainsail.config.validation.dispatch import validate_all

BOOK = Path(__file__).parents[2] / "src" / "mainsail" / "samples" / "book" / "telemetry"


def _book() -> str:
    return "\n---\n".join(p.read_text() for p in sorted(BOOK.glob("*.yaml")))


def test_the_book_examples_apply_and_resolve() -> None:
    parsed = parse_documents(_book(), "book")
    assert not parsed.errors
    assert [e for e in validate_all(parsed) if e.severity == "error"] == []
    rules = {r.name: r for r in resolve_rules(parsed.resources)}
    assert set(rules) == {"promhttp", "promtcp", "istiologtofluentd"}
    (http,) = rules["promhttp"].actions
    assert isinstance(http.handler.params, PrometheusParams)
    assert [i.full_name for i in http.instances] == [
        "requestcount.metric.istio-system",
        "requestduration.metric.istio-system",
        "requestsize.metric.istio-system",
        "responsesize.metric.istio-system",
    ]
    metrics = {m.name: m for m in http.handler.params.metrics}
    assert metrics["request_duration_seconds"].buckets is not None
    assert metrics["request_duration_seconds"].buckets.bounds()[:2] == (0.005, 0.01)
    assert metrics["request_bytes"].buckets is not None
    assert metrics["request_bytes"].buckets.bounds()[-1] == 1e8
    (log,) = rules["istiologtofluentd"].actions
    assert isinstance(log.handler.params, FluentdParams)
    assert log.handler.params.address == "localhost:24224"
    assert log.handler.params.integer_duration is False  # the book's "integerDuration: n"
    assert isinstance(log.instances[0].params, LogEntryParams)


def test_kinds_are_in_the_schema_table() -> None:
    for word in ("handler", "instances", "rule", "prometheus", "fluentd", "logentry", "metric"):
        found = lookup(word)
        assert found is not None and found.group == "config.istio.io", word


_RULE = """apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r, namespace: istio-system}
spec:
  match: MATCH
  actions: [{handler: prometheus, instances: [requestcount.metric]}]
"""


def _errors(text: str) -> list[tuple[str, ErrorCode, str]]:
    parsed = parse_documents(text, "t")
    assert not parsed.errors
    return [(e.path, e.code, e.reason) for e in validate_all(parsed) if e.severity == "error"]


def test_the_book_s_request_user_agent_is_refused_with_the_reason() -> None:
    match = (
        '(context.protocol == "http") && (match((request.userAgent | "-"), "kube-probe*") == false)'
    )
    ((path, code, reason),) = _errors(_RULE.replace("MATCH", f"'{match}'"))
    assert (path, code) == ("spec.match", ErrorCode.MIXER_EXPRESSION)
    assert "column 41: unknown attribute 'request.userAgent'" in reason


def test_a_match_must_be_bool_and_compile_into_envoy() -> None:
    ((_, _, reason),) = _errors(_RULE.replace("MATCH", "request.path"))
    assert "expression is STRING, BOOL is required" in reason
    ((_, _, reason),) = _errors(_RULE.replace("MATCH", "'check.cache_hit == true'"))
    assert "'check.cache_hit' has no Envoy equivalent" in reason
    ((_, _, reason),) = _errors(_RULE.replace("MATCH", "'response.code =='"))
    assert "column 17: expected a value" in reason


def test_instances_and_handlers_are_checked() -> None:
    text = """apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: i, namespace: istio-system}
spec:
  compiledTemplate: metric
  params:
    value: response.size | "0"
    dimensions: {code: response.code | 200}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: h, namespace: istio-system}
spec:
  compiledAdapter: denier
---
apiVersion: config.istio.io/v1alpha2
kind: fluentd
metadata: {name: f, namespace: istio-system}
spec: {address: "no-port"}
"""
    errors = _errors(text)
    assert ("spec.params.value", ErrorCode.MIXER_EXPRESSION) in [(p, c) for p, c, _ in errors]
    assert any("adapter 'denier' is not compiled by Mainsail" in r for _, _, r in errors)
    assert ("spec.address", ErrorCode.MIXER_PARAMS) in [(p, c) for p, c, _ in errors]


def test_a_fluentd_hostname_is_a_warning() -> None:
    text = """apiVersion: config.istio.io/v1alpha2
kind: fluentd
metadata: {name: f, namespace: istio-system}
spec: {address: "fluentd-es.logging:24224"}
"""
    parsed = parse_documents(text, "t")
    (warning,) = validate_all(parsed)
    assert warning.severity == "warning"
    assert "is not an IP address or localhost" in warning.reason
