"""Rules resolved to their handlers and instances, as Mixer's runtime did on each config change.

A reference is ``name``, ``name.kind`` or ``name.kind.namespace`` (``handler.fluentd``,
``requestcount.metric.istio-system``), or ``name.namespace``; without a namespace it is the
rule's own. ``kind`` is an old per-kind CRD (``fluentd``, ``metric``) or what a new ``handler``
/ ``instance`` compiles (``compiledAdapter`` / ``compiledTemplate``). Rules in Mixer's config
namespace (``istio-system``) apply to every workload, others to their namespace's workloads.
A reference that does not resolve drops that handler or instance (Mixer logged and skipped it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from mainsail.config.base import Resource
from mainsail.config.mixer.models import (
    ADAPTER_KINDS,
    ADAPTER_PARAMS,
    TEMPLATE_KINDS,
    TEMPLATE_PARAMS,
    AdapterResource,
    Handler,
    Instance,
    MixerModel,
    Rule,
    TemplateResource,
)

MIXER_NAMESPACE = "istio-system"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedInstance:
    name: str
    namespace: str
    template: str  # metric | logentry | tracespan
    params: MixerModel

    @property
    def full_name(self) -> str:
        """Mixer's ``name.template.namespace``, what a prometheus ``instance_name`` says."""
        return f"{self.name}.{self.template}.{self.namespace}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedHandler:
    name: str
    namespace: str
    adapter: str  # prometheus | stdio | fluentd | zipkin
    params: MixerModel


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedAction:
    handler: ResolvedHandler
    instances: tuple[ResolvedInstance, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedRule:
    name: str
    namespace: str
    match: str
    actions: tuple[ResolvedAction, ...]

    def applies_to(self, namespace: str) -> bool:
        return self.namespace in (MIXER_NAMESPACE, namespace)


def handler_of(resource: Resource) -> ResolvedHandler | None:
    """The adapter and typed params of a handler resource (None: not an adapter we compile)."""
    if isinstance(resource, Handler):
        adapter = resource.spec.compiled_adapter or resource.spec.adapter
        raw: Mapping[str, Any] = resource.spec.params
    elif isinstance(resource, AdapterResource):
        adapter, raw = resource.kind, resource.spec
    else:
        return None
    model = ADAPTER_PARAMS.get(adapter)
    if model is None:
        return None
    return ResolvedHandler(
        name=resource.name,
        namespace=resource.namespace,
        adapter=adapter,
        params=model.model_validate(dict(raw)),
    )


def instance_of(resource: Resource) -> ResolvedInstance | None:
    if isinstance(resource, Instance):
        template = resource.spec.compiled_template or resource.spec.template
        raw: Mapping[str, Any] = resource.spec.params
    elif isinstance(resource, TemplateResource):
        template, raw = resource.kind, resource.spec
    else:
        return None
    model = TEMPLATE_PARAMS.get(template)
    if model is None:
        return None
    return ResolvedInstance(
        name=resource.name,
        namespace=resource.namespace,
        template=template,
        params=model.model_validate(dict(raw)),
    )


def _reference(text: str, namespace: str, kinds: Iterable[str]) -> tuple[str, str | None, str]:
    """(name, kind or None, namespace) of a reference."""
    name, *rest = text.split(".")
    kind: str | None = None
    if rest and (rest[0] in kinds or rest[0] in ("handler", "instance")):
        kind = rest.pop(0)
    kind = None if kind in ("handler", "instance") else kind
    return name, kind, ".".join(rest) or namespace


def resolve_rules(resources: Iterable[Resource]) -> tuple[ResolvedRule, ...]:
    """Every rule with the handlers and instances it names (oldest first, as given)."""
    items = list(resources)
    handlers = {(h.name, h.namespace): h for r in items if (h := _safe(handler_of, r))}
    instances = {(i.name, i.namespace): i for r in items if (i := _safe(instance_of, r))}
    rules: list[ResolvedRule] = []
    for rule in (r for r in items if isinstance(r, Rule)):
        actions: list[ResolvedAction] = []
        for action in rule.spec.actions:
            name, kind, ns = _reference(action.handler, rule.namespace, ADAPTER_KINDS)
            handler = handlers.get((name, ns))
            if handler is None or (kind is not None and kind != handler.adapter):
                continue
            found: list[ResolvedInstance] = []
            for ref in action.instances:
                name, kind, ns = _reference(ref, rule.namespace, TEMPLATE_KINDS)
                instance = instances.get((name, ns))
                if instance is not None and kind in (None, instance.template):
                    found.append(instance)
            actions.append(ResolvedAction(handler=handler, instances=tuple(found)))
        rules.append(
            ResolvedRule(
                name=rule.name,
                namespace=rule.namespace,
                match=rule.spec.match,
                actions=tuple(actions),
            )
        )
    return tuple(rules)


def _safe(build: Callable[[Resource], _T | None], resource: Resource) -> _T | None:
    # Validation refuses bad params at apply time; a store loaded another way skips them.
    try:
        return build(resource)
    except ValueError:
        return None
