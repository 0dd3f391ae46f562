"""The book's Mixer kinds (``config.istio.io/v1alpha2``), checked at apply time.

Every expression is parsed, type-checked against the attribute vocabulary (as Mixer's
``expr`` checker did) and compiled to what Envoy evaluates; any failure is an error naming the
field, the column and the reason, so a rule that cannot be compiled is refused, not dropped
later. A rule's ``match`` must be BOOL. Adapters and templates Mainsail does not compile
(``denier``, ``memquota``, ``kubernetes``…) are refused with the list of those it does.
References between resources are resolved at translation (an unresolved one is skipped, as
Mixer logged and skipped it). Fields Mixer's decoder would ignore are warnings.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.legacy.base import unknown_fields
from mainsail.config.mixer.attributes import ValueType
from mainsail.config.mixer.cel import placeholder_sources, to_cel, to_format
from mainsail.config.mixer.cexl import CexlError
from mainsail.config.mixer.check import check
from mainsail.config.mixer.models import (
    ADAPTER_PARAMS,
    TEMPLATE_PARAMS,
    AdapterResource,
    FluentdParams,
    Handler,
    Instance,
    LogEntryParams,
    MetricParams,
    PrometheusParams,
    Rule,
    TemplateResource,
    TraceSpanParams,
)
from mainsail.config.validation.rules import Findings, is_ip

_SOURCES = placeholder_sources()


def check_expression(
    f: Findings, path: str, text: str, wanted: ValueType | None = None, *, cel_only: bool = False
) -> None:
    """One CEXL expression: syntax, types, and compilation into Envoy."""
    try:
        expr, _ = check(text, wanted)
        if cel_only:
            to_cel(expr, _SOURCES)
        else:
            to_format(expr, _SOURCES)
    except CexlError as error:
        f.add(path, f"{text!r}: {error}", ErrorCode.MIXER_EXPRESSION)


def _params(f: Findings, path: str, model: type[BaseModel], raw: object) -> BaseModel | None:
    try:
        return model.model_validate(dict(raw) if isinstance(raw, dict) else raw)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            where = ".".join(str(p) for p in problem["loc"])
            f.add(f"{path}.{where}".rstrip("."), problem["msg"], ErrorCode.MIXER_PARAMS)
        return None


def _adapter(f: Findings, path: str, adapter: str, raw: object) -> None:
    model = ADAPTER_PARAMS.get(adapter)
    if model is None:
        known = ", ".join(ADAPTER_PARAMS)
        f.add(path, f"adapter {adapter!r} is not compiled by Mainsail ({known})",
              ErrorCode.MIXER_PARAMS)  # fmt: skip
        return
    params = _params(f, path, model, raw)
    for field in unknown_fields(params, path) if params is not None else ():
        f.warn(field, "unknown field, ignored (as Mixer's decoder did)", ErrorCode.MIXER_PARAMS)
    if isinstance(params, PrometheusParams):
        for i, metric in enumerate(params.metrics):
            at = f"{path}.metrics[{i}]"
            if not metric.name:
                f.add(f"{at}.name", "a metric needs a name", ErrorCode.MIXER_PARAMS)
            if not metric.instance_name:
                f.add(f"{at}.instance_name", "a metric needs the instance_name it exports",
                      ErrorCode.MIXER_PARAMS)  # fmt: skip
    if isinstance(params, FluentdParams):
        host, _, port = params.address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            f.add(f"{path}.address", f"address {params.address!r} is not host:port",
                  ErrorCode.MIXER_PARAMS)  # fmt: skip
        elif host != "localhost" and not is_ip(host.strip("[]")):
            # The fluentd cluster is the bootstrap's EDS cluster: its endpoint is an address.
            f.warn(f"{path}.address", f"{host!r} is not an IP address or localhost: "
                   "Mainsail sends this handler's records nowhere", ErrorCode.MIXER_PARAMS)  # fmt: skip


def _template(f: Findings, path: str, template: str, raw: object) -> None:
    model = TEMPLATE_PARAMS.get(template)
    if model is None:
        known = ", ".join(TEMPLATE_PARAMS)
        f.add(path, f"template {template!r} is not compiled by Mainsail ({known})",
              ErrorCode.MIXER_PARAMS)  # fmt: skip
        return
    params = _params(f, path, model, raw)
    if isinstance(params, MetricParams):
        if not params.value:
            f.add(f"{path}.value", "a metric instance needs a value", ErrorCode.MIXER_EXPRESSION)
        else:
            check_expression(f, f"{path}.value", params.value)
        for key, text in params.dimensions.items():
            check_expression(f, f"{path}.dimensions.{key}", text)
    elif isinstance(params, LogEntryParams):
        if params.severity:
            check_expression(f, f"{path}.severity", params.severity)
        if params.timestamp:
            check_expression(f, f"{path}.timestamp", params.timestamp, ValueType.TIMESTAMP)
        for key, text in params.variables.items():
            check_expression(f, f"{path}.variables.{key}", text)
    elif isinstance(params, TraceSpanParams):
        for name, text in params.model_dump().items():
            if isinstance(text, str) and text:
                check_expression(f, f"{path}.{name}", text)
        for key, text in params.span_tags.items():
            check_expression(f, f"{path}.spanTags.{key}", text)


def _rule(f: Findings, rule: Rule) -> None:
    if rule.spec.match:
        check_expression(f, "spec.match", rule.spec.match, ValueType.BOOL, cel_only=True)
    if not rule.spec.actions:
        f.warn("spec.actions", "a rule without actions does nothing", ErrorCode.MIXER_RULE)
    for i, action in enumerate(rule.spec.actions):
        if not action.handler:
            f.add(f"spec.actions[{i}].handler", "an action needs a handler", ErrorCode.MIXER_RULE)
        for j, ref in enumerate(action.instances):
            if not ref or any(not part for part in ref.split(".")):
                f.add(f"spec.actions[{i}].instances[{j}]", f"{ref!r} is not an instance name",
                      ErrorCode.MIXER_RULE)  # fmt: skip
    for field in unknown_fields(rule.spec, "spec"):
        f.warn(field, "unknown field, ignored (as Mixer's decoder did)", ErrorCode.MIXER_RULE)


def validate_mixer(resource: Resource) -> list[ConfigError]:
    f = Findings()
    if isinstance(resource, Handler):
        adapter = resource.spec.compiled_adapter or resource.spec.adapter
        _adapter(f, "spec.params", adapter, dict(resource.spec.params))
    elif isinstance(resource, AdapterResource):
        _adapter(f, "spec", resource.kind, dict(resource.spec))
    elif isinstance(resource, Instance):
        template = resource.spec.compiled_template or resource.spec.template
        _template(f, "spec.params", template, dict(resource.spec.params))
    elif isinstance(resource, TemplateResource):
        _template(f, "spec", resource.kind, dict(resource.spec))
    elif isinstance(resource, Rule):
        _rule(f, resource)
    return f.items
