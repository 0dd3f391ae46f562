"""``config.istio.io/v1alpha2`` kinds of the book's Mixer model (Istio 1.0-1.7).

- ``handler`` (``compiledAdapter`` + ``params``), ``instance`` (``compiledTemplate`` + ``params``)
  and ``rule`` (``match`` + ``actions[] {handler, instances[], name}``): the 1.1+ forms;
- the older per-kind forms the book also uses: adapter kinds ``prometheus``, ``stdio``,
  ``fluentd``, ``zipkin`` (spec = the adapter's params) and template kinds ``metric``,
  ``logentry``, ``tracespan`` (spec = the template's params). A rule names them
  ``<name>.<kind>[.<namespace>]`` (``handler.fluentd``, ``requestcount.metric.istio-system``).

Mixer decoded params with protobuf JSON, which takes both ``label_names`` and ``labelNames``;
so do these models. Like Mixer's store, unknown fields are kept (and reported by validation),
not fatal. Expressions stay text here: ``config.validation.mixer`` type-checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mainsail.config.base import Resource
from mainsail.config.legacy.base import LegacyModel

CONFIG = "config.istio.io"
ADAPTER_KINDS = ("prometheus", "stdio", "fluentd", "zipkin")
TEMPLATE_KINDS = ("metric", "logentry", "tracespan")
MIXER_KINDS = ("handler", "instance", "rule", *ADAPTER_KINDS, *TEMPLATE_KINDS)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class MixerModel(LegacyModel):
    """Accepts protobuf JSON's two spellings of a field (``label_names``, ``labelNames``)."""

    @model_validator(mode="before")
    @classmethod
    def _camel_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {(_camel(k) if isinstance(k, str) else k): v for k, v in data.items()}
        return data


# --- adapters -------------------------------------------------------------------------------


class LinearBuckets(MixerModel):
    num_finite_buckets: int = 0
    width: float = 0
    offset: float = 0


class ExponentialBuckets(MixerModel):
    num_finite_buckets: int = 0
    growth_factor: float = 0
    scale: float = 0


class ExplicitBuckets(MixerModel):
    bounds: tuple[float, ...] = ()


class BucketsDefinition(MixerModel):
    linear_buckets: LinearBuckets | None = None
    exponential_buckets: ExponentialBuckets | None = None
    explicit_buckets: ExplicitBuckets | None = None

    def bounds(self) -> tuple[float, ...]:
        """The finite upper bounds, as Mixer's prometheus adapter computes them."""
        if self.explicit_buckets is not None:
            return self.explicit_buckets.bounds
        if self.exponential_buckets is not None:
            e = self.exponential_buckets
            return tuple(e.scale * e.growth_factor**i for i in range(e.num_finite_buckets + 1))
        if self.linear_buckets is not None:
            lin = self.linear_buckets
            return tuple(lin.offset + lin.width * i for i in range(lin.num_finite_buckets + 1))
        return ()


MetricKind = Literal["COUNTER", "GAUGE", "DISTRIBUTION"]


class PrometheusMetric(MixerModel):
    name: str = ""
    namespace: str = ""  # Mixer's default: "istio" (the metric's prefix)
    instance_name: str = ""
    description: str = ""
    kind: MetricKind = "COUNTER"
    label_names: tuple[str, ...] = ()
    buckets: BucketsDefinition | None = None


class PrometheusParams(MixerModel):
    metrics: tuple[PrometheusMetric, ...] = ()
    metrics_expiration_policy: Mapping[str, Any] = Field(default_factory=dict)


class StdioParams(MixerModel):
    log_stream: Literal["STDOUT", "STDERR", "FILE", "ROTATED_FILE"] = "STDOUT"
    severity_levels: Mapping[str, int] = Field(default_factory=dict)
    output_as_json: bool = False
    output_path: str = ""
    metric_level: Literal["INFO", "WARNING", "ERROR"] = "INFO"


class FluentdParams(MixerModel):
    address: str = ""
    integer_duration: bool = False
    instance_buffer_size: int = 0
    max_batch_size_bytes: int = 0
    push_interval_seconds: int | str = 0
    push_timeout_seconds: int | str = 0

    @field_validator("integer_duration", mode="before")
    @classmethod
    def _yaml_one_letter(cls, value: Any) -> Any:
        # The book writes ``integerDuration: n`` (YAML 1.1's "no"; PyYAML reads a string).
        if isinstance(value, str) and value.lower() in ("n", "y"):
            return value.lower() == "y"
        return value


class ZipkinParams(MixerModel):
    url: str = ""
    sample_probability: float = 0


ADAPTER_PARAMS: dict[str, type[MixerModel]] = {
    "prometheus": PrometheusParams,
    "stdio": StdioParams,
    "fluentd": FluentdParams,
    "zipkin": ZipkinParams,
}

# --- templates ------------------------------------------------------------------------------


class MetricParams(MixerModel):
    value: str = ""
    dimensions: Mapping[str, str] = Field(default_factory=dict)
    monitored_resource_type: str = ""
    monitored_resource_dimensions: Mapping[str, str] = Field(default_factory=dict)


class LogEntryParams(MixerModel):
    severity: str = ""
    timestamp: str = ""
    variables: Mapping[str, str] = Field(default_factory=dict)
    monitored_resource_type: str = ""
    monitored_resource_dimensions: Mapping[str, str] = Field(default_factory=dict)


class TraceSpanParams(MixerModel):
    trace_id: str = ""
    span_id: str = ""
    parent_span_id: str = ""
    span_name: str = ""
    start_time: str = ""
    end_time: str = ""
    span_tags: Mapping[str, str] = Field(default_factory=dict)
    http_status_code: str = ""
    client_span: str = ""
    rewrite_client_span_id: str = ""
    source_name: str = ""
    source_ip: str = ""
    destination_name: str = ""
    destination_ip: str = ""
    request_size: str = ""
    request_total_size: str = ""
    response_size: str = ""
    response_total_size: str = ""
    api_protocol: str = ""


TEMPLATE_PARAMS: dict[str, type[MixerModel]] = {
    "metric": MetricParams,
    "logentry": LogEntryParams,
    "tracespan": TraceSpanParams,
}

# --- kinds ----------------------------------------------------------------------------------


class HandlerSpec(MixerModel):
    compiled_adapter: str = ""
    adapter: str = ""
    params: Mapping[str, Any] = Field(default_factory=dict)


class Handler(Resource):
    kind: Literal["handler"] = "handler"
    spec: HandlerSpec


class InstanceSpec(MixerModel):
    compiled_template: str = ""
    template: str = ""
    params: Mapping[str, Any] = Field(default_factory=dict)
    attribute_bindings: Mapping[str, str] = Field(default_factory=dict)


class Instance(Resource):
    kind: Literal["instance"] = "instance"
    spec: InstanceSpec


class Action(MixerModel):
    handler: str = ""
    instances: tuple[str, ...] = ()
    name: str = ""


class RuleSpec(MixerModel):
    match: str = ""
    actions: tuple[Action, ...] = ()
    request_header_operations: tuple[Mapping[str, Any], ...] = ()
    response_header_operations: tuple[Mapping[str, Any], ...] = ()
    sampling: Mapping[str, Any] = Field(default_factory=dict)

    @field_validator("match", mode="before")
    @classmethod
    def _bool_match(cls, value: Any) -> Any:
        # ``match: true`` unquoted is a YAML bool; Mixer read the JSON text "true".
        return str(value).lower() if isinstance(value, bool) else value


class Rule(Resource):
    kind: Literal["rule"] = "rule"
    spec: RuleSpec = Field(default_factory=RuleSpec)


class AdapterResource(Resource):
    """An old per-adapter kind (``kind: prometheus|stdio|fluentd|zipkin``): spec = params."""

    spec: Mapping[str, Any] = Field(default_factory=dict)


class TemplateResource(Resource):
    """An old per-template kind (``kind: metric|logentry|tracespan``): spec = params."""

    spec: Mapping[str, Any] = Field(default_factory=dict)


class Prometheus(AdapterResource):
    kind: Literal["prometheus"] = "prometheus"


class Stdio(AdapterResource):
    kind: Literal["stdio"] = "stdio"


class Fluentd(AdapterResource):
    kind: Literal["fluentd"] = "fluentd"


class Zipkin(AdapterResource):
    kind: Literal["zipkin"] = "zipkin"


class Metric(TemplateResource):
    kind: Literal["metric"] = "metric"


class LogEntry(TemplateResource):
    kind: Literal["logentry"] = "logentry"


class TraceSpan(TemplateResource):
    kind: Literal["tracespan"] = "tracespan"


__all__ = [
    "ADAPTER_KINDS",
    "ADAPTER_PARAMS",
    "CONFIG",
    "MIXER_KINDS",
    "TEMPLATE_KINDS",
    "TEMPLATE_PARAMS",
    "Action",
    "AdapterResource",
    "Fluentd",
    "FluentdParams",
    "Handler",
    "Instance",
    "LogEntry",
    "LogEntryParams",
    "Metric",
    "MetricParams",
    "Prometheus",
    "PrometheusMetric",
    "PrometheusParams",
    "Rule",
    "Stdio",
    "StdioParams",
    "TemplateResource",
    "TraceSpan",
    "TraceSpanParams",
    "Zipkin",
    "ZipkinParams",
]
