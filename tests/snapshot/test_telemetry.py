"""Telemetry scope resolution: istiod's applicableTelemetries / mergeMetrics / mergeLogs /
Tracing rules, case by case."""

from __future__ import annotations

from typing import Any

import yaml

from mainsail.config.istio.telemetry import Telemetry
from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.telemetry import (
    ALL_METRICS,
    LogProvider,
    TagChange,
    resolve_telemetry,
)

MESH = MeshConfig()


def _t(namespace: str, name: str, spec: str, **extra: Any) -> Telemetry:
    return Telemetry.model_validate(
        {"metadata": {"name": name, "namespace": namespace}, "spec": yaml.safe_load(spec) or {}}
        | extra
    )


def test_nothing_configured_is_the_default_prometheus_and_no_logging_or_tracing() -> None:
    resolved = resolve_telemetry([], MESH, "default", {})
    assert [p.provider for p in resolved.metrics] == ["prometheus"]
    assert resolved.metrics[0].client == resolved.metrics[0].server == ()
    assert resolved.client_logs is None and resolved.server_logs is None
    assert resolved.tracing is None
    assert hash(resolved) == hash(resolve_telemetry([], MESH, "default", {}))


ROOT = _t(
    "istio-system",
    "mesh",
    """
metrics:
- overrides:
  - match: {metric: REQUEST_COUNT}
    tagOverrides: {response_flags: {operation: REMOVE}}
accessLogging:
- providers: [{name: envoy}]
""",
)
NAMESPACE = _t(
    "default",
    "ns",
    """
metrics:
- overrides:
  - match: {metric: REQUEST_COUNT, mode: CLIENT}
    disabled: true
""",
)
WORKLOAD = _t(
    "default",
    "reviews",
    """
selector: {matchLabels: {app: reviews}}
metrics:
- overrides:
  - match: {metric: REQUEST_COUNT}
    tagOverrides: {host: {value: request.host}}
accessLogging:
- match: {mode: CLIENT}
  disabled: true
- providers: [{name: envoy}]
  match: {mode: SERVER}
  filter: {expression: response.code >= 400}
""",
)
OTHER_NS_WORKLOAD = _t("other", "reviews", "selector: {matchLabels: {app: reviews}}")


def test_levels_merge_overrides_in_order_per_mode() -> None:
    telemetries = [ROOT, NAMESPACE, WORKLOAD, OTHER_NS_WORKLOAD]
    resolved = resolve_telemetry(telemetries, MESH, "default", {"app": "reviews"})
    assert resolved.scopes == (
        ("istio-system", "mesh"),
        ("default", "ns"),
        ("default", "reviews"),
    )
    (prometheus,) = resolved.metrics
    client = prometheus.for_mode("CLIENT")["REQUEST_COUNT"]
    server = prometheus.for_mode("SERVER")["REQUEST_COUNT"]
    assert client.disabled and not server.disabled
    assert (
        client.tags
        == server.tags
        == (
            TagChange("host", remove=False, value="request.host"),
            TagChange("response_flags", remove=True),
        )
    )
    # The root's envoy logging is inherited on the server side and filtered there; the workload
    # turns it off on the client side.
    assert resolved.server_logs == (LogProvider("envoy", "response.code >= 400"),)
    assert resolved.client_logs == ()


def test_workload_telemetry_only_for_matching_labels_in_its_namespace() -> None:
    telemetries = [ROOT, NAMESPACE, WORKLOAD]
    resolved = resolve_telemetry(telemetries, MESH, "default", {"app": "ratings"})
    assert resolved.scopes[2] is None
    assert resolved.client_logs == resolved.server_logs == (LogProvider("envoy"),)
    other = resolve_telemetry(telemetries, MESH, "other", {"app": "reviews"})
    assert other.scopes == (("istio-system", "mesh"), None, None)


def test_oldest_namespace_wide_telemetry_wins() -> None:
    older = _t("default", "a", "accessLogging: [{providers: [{name: envoy}]}]")
    newer = _t("default", "b", "accessLogging: [{disabled: true}]")
    resolved = resolve_telemetry([older, newer], MESH, "default", {})
    assert resolved.scopes[1] == ("default", "a")
    assert resolved.server_logs == (LogProvider("envoy"),)


def test_providers_replace_the_parents_and_all_metrics_disabled_drops_the_provider() -> None:
    mesh = MeshConfig.model_validate({"extensionProviders": [{"name": "other", "prometheus": {}}]})
    root = _t("istio-system", "mesh", "metrics: [{providers: [{name: prometheus}]}]")
    ns = _t("default", "ns", "metrics: [{providers: [{name: other}]}]")
    resolved = resolve_telemetry([root, ns], mesh, "default", {})
    assert [p.provider for p in resolved.metrics] == ["other"]
    off = _t(
        "default",
        "ns",
        "metrics: [{overrides: [{match: {metric: ALL_METRICS}, disabled: true}]}]",
    )
    assert resolve_telemetry([root, off], mesh, "default", {}).metrics == ()
    # ... unless a lower level turns metrics back on.
    on = _t(
        "default",
        "w",
        """
selector: {matchLabels: {app: a}}
metrics: [{overrides: [{match: {metric: REQUEST_COUNT}, disabled: false}]}]
""",
    )
    back = resolve_telemetry([root, off, on], mesh, "default", {"app": "a"})
    assert [p.provider for p in back.metrics] == ["prometheus"]
    # ALL_METRICS overrides (not disabling all) expand to every metric.
    tags = _t(
        "default",
        "ns",
        "metrics: [{overrides: [{tagOverrides: {x: {value: request.host}}}]}]",
    )
    (expanded,) = resolve_telemetry([tags], mesh, "default", {}).metrics
    assert tuple(o.metric for o in expanded.client) == ALL_METRICS


def test_default_access_log_providers_and_tracing() -> None:
    mesh = MeshConfig.model_validate(
        {"defaultProviders": {"accessLogging": ["envoy"], "tracing": ["zipkin"]}}
    )
    resolved = resolve_telemetry([], mesh, "default", {})
    assert resolved.server_logs == resolved.client_logs == (LogProvider("envoy"),)
    tracing = resolved.tracing
    assert tracing is not None
    # No provider named zipkin in the mesh: tracing is off.
    assert tracing.client.disabled and tracing.client.provider == "zipkin"
    sampled = _t(
        "default",
        "ns",
        """
tracing:
- randomSamplingPercentage: 5
  match: {mode: SERVER}
  customTags: {t: {literal: {value: v}}}
""",
    )
    tracing = resolve_telemetry([sampled], mesh, "default", {}).tracing
    assert tracing is not None
    assert tracing.server.random_sampling_percentage == 5
    assert tracing.client.random_sampling_percentage is None
    assert [name for name, _ in tracing.server.custom_tags] == ["t"]
