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


def _key(resource: Resource) -> tuple[str, str, str]:
    """(name, namespace, kind): ``handler.fluentd`` and ``handler.stdio`` are two objects."""
    return (resource.name, resource.namespace, resource.kind)


def _pick(
    found: Mapping[tuple[str, str, str], _T],
    name: str,
    kind: str | None,
    namespace: str,
    compiled: Callable[[_T], str],
) -> _T | None:
    """A ``name.kind`` reference: the old per-kind object, else a new ``handler``/``instance``
    compiling that kind. A bare name: the new object, else the only old one of that name."""
    if kind is not None:
        exact = found.get((name, namespace, kind))
        if exact is not None:
            return exact
        new = next(
            (v for (n, ns, k), v in found.items() if (n, ns) == (name, namespace)
             and k in ("handler", "instance") and compiled(v) == kind),
            None,
        )  # fmt: skip
        return new
    candidates = [v for (n, ns, _), v in found.items() if (n, ns) == (name, namespace)]
    return candidates[0] if len(candidates) == 1 else None


def resolve_rules(resources: Iterable[Resource]) -> tuple[ResolvedRule, ...]:
    """Every rule with the handlers and instances it names (oldest first, as given)."""
    items = list(resources)
    handlers = {_key(r): h for r in items if (h := _safe(handler_of, r))}
    instances = {_key(r): i for r in items if (i := _safe(instance_of, r))}
    rules: list[ResolvedRule] = []
    for rule in (r for r in items if isinstance(r, Rule)):
        actions: list[ResolvedAction] = []
        for action in rule.spec.actions:
            name, kind, ns = _reference(action.handler, rule.namespace, ADAPTER_KINDS)
            handler = _pick(handlers, name, kind, ns, lambda h: h.adapter)
            if handler is None:
                continue
            found: list[ResolvedInstance] = []
            for ref in action.instances:
                name, kind, ns = _reference(ref, rule.namespace, TEMPLATE_KINDS)
                instance = _pick(instances, name, kind, ns, lambda i: i.template)
                if instance is not None:
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
