"""telemetry.istio.io Telemetry: metrics, access logging and tracing per mesh, namespace or
workload (istio/api telemetry/v1alpha1/telemetry.proto; v1 is the same message).

Structural checks only; Istio's semantic rules live in ``config.validation.telemetry``, scope
resolution in ``snapshot.telemetry``, translation in ``xds.telemetry*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import (
    MatchLabelsSelector,
    PolicyTargetReference,
    check_at_most_one,
)
from mainsail.config.wire_types import Bool, Double, Duration

TELEMETRY = "telemetry.istio.io"

WorkloadMode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]
MetricName = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]
TagOperation = Literal["UPSERT", "REMOVE"]
NonEmpty = Annotated[str, Field(min_length=1)]


class ProviderRef(WireModel):
    """A MeshConfig ``extensionProviders`` name (or a built-in: ``prometheus``, ``envoy``)."""

    name: NonEmpty


class MetricSelector(WireModel):
    """``metric`` and ``customMetric`` are a oneof; neither means every metric."""

    metric: MetricName | None = None
    custom_metric: NonEmpty | None = None
    mode: WorkloadMode | None = None

    @model_validator(mode="after")
    def _one_metric(self) -> Self:
        check_at_most_one(self, "metric", "custom_metric")
        return self


class TagOverride(WireModel):
    """``operation`` absent is the proto default UPSERT; ``value`` is a CEL expression."""

    operation: TagOperation | None = None
    value: str | None = None

    @property
    def effective_operation(self) -> TagOperation:
        return self.operation or "UPSERT"


class MetricsOverrides(WireModel):
    match: MetricSelector | None = None
    disabled: Bool | None = None
    tag_overrides: Mapping[str, TagOverride] = Field(default_factory=dict)


class Metrics(WireModel):
    providers: tuple[ProviderRef, ...] = ()
    overrides: tuple[MetricsOverrides, ...] = ()
    reporting_interval: Duration | None = None


class AccessLogMatch(WireModel):
    mode: WorkloadMode | None = None


class AccessLogFilter(WireModel):
    """A CEL expression over Envoy's attributes (``response.code >= 400``)."""

    expression: str = ""


class AccessLogging(WireModel):
    match: AccessLogMatch | None = None
    providers: tuple[ProviderRef, ...] = ()
    disabled: Bool | None = None
    filter: AccessLogFilter | None = None


class LiteralTag(WireModel):
    value: NonEmpty


class EnvironmentTag(WireModel):
    name: NonEmpty
    default_value: str = ""


class HeaderTag(WireModel):
    name: NonEmpty
    default_value: str = ""


class FormatterTag(WireModel):
    value: NonEmpty


class CustomTag(WireModel):
    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: HeaderTag | None = None
    formatter: FormatterTag | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        check_at_most_one(self, "literal", "environment", "header", "formatter")
        return self


class TracingSelector(WireModel):
    mode: WorkloadMode | None = None


class Tracing(WireModel):
    match: TracingSelector | None = None
    providers: tuple[ProviderRef, ...] = ()
    random_sampling_percentage: Annotated[Double, Field(ge=0, le=100)] | None = None
    disable_span_reporting: Bool | None = None
    custom_tags: Mapping[str, CustomTag] = Field(default_factory=dict)
    use_request_id_for_trace_sampling: Bool | None = None
    enable_istio_tags: Bool | None = None
    disable_context_propagation: Bool | None = None


class TelemetrySpec(WireModel):
    selector: MatchLabelsSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = Field(default=(), max_length=16)
    tracing: tuple[Tracing, ...] = ()
    metrics: tuple[Metrics, ...] = ()
    access_logging: tuple[AccessLogging, ...] = ()


class Telemetry(Resource):
    api_version: Literal["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"] = (
        "telemetry.istio.io/v1"
    )
    kind: Literal["Telemetry"] = "Telemetry"
    spec: TelemetrySpec = Field(default_factory=TelemetrySpec)
    status: Mapping[str, object] | None = None
