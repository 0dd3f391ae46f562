"""Telemetry: the model has exactly the CRD's fields, and accepts/rejects as Istio does."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mainsail.config.istio.telemetry import Telemetry
from mainsail.config.parse import parse_documents
from mainsail.config.schema import by_kind, lookup
from mainsail.config.validation import validate_all
from tests.config.crd_oracle import crd_schemas, oracle_errors
from tests.config.test_oracle import _compare


def test_schema_knows_telemetry_in_both_versions() -> None:
    schema = lookup("telemetries.telemetry.istio.io")
    assert schema is not None and schema is by_kind("Telemetry") is lookup("telemetry")
    assert schema.api_versions == ("telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1")


@pytest.mark.parametrize("version", ["v1", "v1alpha1"])
def test_model_has_exactly_the_crd_fields(version: str) -> None:
    crd = crd_schemas()[("Telemetry", version)]
    problems: list[str] = []
    _compare(crd["properties"]["spec"], Telemetry.model_fields["spec"].annotation, "spec", problems)
    assert problems == []


FULL = """
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: full, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 10s
    overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      disabled: true
    - match: {customMetric: my_metric}
      tagOverrides:
        response_code: {operation: REMOVE}
        request_host: {value: "request.host"}
  accessLogging:
  - providers: [{name: envoy}]
    match: {mode: SERVER}
    filter: {expression: "response.code >= 400"}
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 10.5
    customTags:
      a: {literal: {value: x}}
      b: {header: {name: x-b, defaultValue: none}}
"""


def _check(text: str) -> tuple[list[str], list[str], list[str]]:
    doc = yaml.safe_load(text)
    parsed = parse_documents(text, "t.yaml")
    return (
        oracle_errors(doc),
        [str(e) for e in parsed.errors],
        [str(e) for e in validate_all(parsed) if e.is_error],
    )


def test_full_document_is_accepted_and_parsed() -> None:
    assert _check(FULL) == ([], [], [])
    parsed = parse_documents(FULL, "t.yaml")
    telemetry = parsed.resources[0]
    assert isinstance(telemetry, Telemetry)
    override = telemetry.spec.metrics[0].overrides[1]
    assert override.tag_overrides["response_code"].effective_operation == "REMOVE"
    assert override.tag_overrides["request_host"].effective_operation == "UPSERT"
    assert telemetry.spec.tracing[0].custom_tags["b"].header is not None


def _variant(path: str, value: Any) -> str:
    doc = yaml.safe_load(FULL)
    node = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    node[keys[-1]] = value
    return yaml.safe_dump(doc)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.metrics.0.overrides.0.match", {"metric": "NOPE"}),
        ("spec.metrics.0.overrides.0.match", {"metric": "REQUEST_COUNT", "customMetric": "x"}),
        ("spec.accessLogging.0.match", {"mode": "BOTH"}),
        ("spec.accessLogging.0.providers", [{"name": ""}]),
        ("spec.tracing.0.randomSamplingPercentage", 101),
        ("spec.tracing.0.customTags", {"a": {"literal": {"value": "x"}, "header": {"name": "y"}}}),
        ("spec.metrics.0.overrides.0.tagOverrides", {"a": {"operation": "DELETE"}}),
    ],
)
def test_structural_errors_match_the_oracle(path: str, value: Any) -> None:
    theirs, structural, _ = _check(_variant(path, value))
    assert theirs != []
    assert structural != []


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (
            "spec.metrics.0.overrides.0.tagOverrides",
            {"a": {"operation": "REMOVE", "value": "x"}},
            "must not be set when operation is REMOVE",
        ),
        (
            "spec.metrics.0.overrides.0.tagOverrides",
            {"a": {"operation": "UPSERT"}},
            "must be set when operation is UPSERT",
        ),
        ("spec.metrics.0.reportingInterval", "0s", "at least 1ms"),
        ("spec.accessLogging.0.filter", {"expression": "response.code >= (400"}, "unclosed"),
        (
            "spec.targetRef",
            {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "g"},
            "only one of targetRefs or workloadSelector",
        ),
    ],
)
def test_semantic_rules_name_the_field(path: str, value: Any, reason: str) -> None:
    theirs, structural, semantic = _check(_variant(path, value))
    assert theirs == [] and structural == []
    assert any(reason in e for e in semantic), semantic
