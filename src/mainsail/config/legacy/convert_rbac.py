"""rbac.istio.io/v1alpha1 → AuthorizationPolicy, following Istio 1.4/1.5's
``istioctl x authz convert`` (istio/istio ``pilot/pkg/security/authz/converter/converter.go``)
and extending it to the subject and rule fields that tool left out.

- ClusterRbacConfig (else the deprecated RbacConfig) named ``default``: ``OFF`` → root-namespace
  allow-all (``rules: [{}]``); ``ON`` → root-namespace ``spec: {}`` (deny all);
  ``ON_WITH_INCLUSION`` → ``spec: {}`` per included namespace and a selector-scoped deny-all per
  included service (``name.namespace``); ``ON_WITH_EXCLUSION`` → root deny-all plus allow-all per
  excluded namespace and service.
- Each ServiceRole rule x the subjects of every binding whose ``roleRef`` names it → an ALLOW
  policy per matching Service (``generated-<role>-rule<i>-svc<j>-target<k>``; ``*`` for services
  means no selector, ``p*``/``*s`` expand to the matching Services), one rule per subject:
  ``user`` (not ``*``) → ``principals``; ``names``/``notNames`` → ``principals``/``notPrincipals``;
  ``group``/``groups`` → ``when request.auth.claims[groups]`` (``group`` keeps Istio's
  ``request.auth.claims[group]``), ``notGroups`` → its ``notValues``; ``namespaces``, ``ips``
  (+ not-variants) → ``namespaces``, ``ipBlocks``; properties ``source.ip`` → ``ipBlocks``,
  ``source.namespace`` → ``namespaces``, ``request.auth.principal`` → ``requestPrincipals``,
  ``source.principal`` → ``principals``, any other → ``when``; a ``*`` property value is dropped
  (except for ``source.principal``).
  Rule ``methods``/``paths`` (``*`` dropped), ``hosts``, ``ports`` and their not-variants →
  ``to.operation``; constraint ``destination.port`` → ``ports``, ``destination.labels[k]`` →
  folded into the selector, ``destination.namespace`` dropped, ``destination.ip`` and
  ``destination.user`` unsupported (error), other constraints → ``when`` (``*`` values dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mainsail.config.base import Resource
from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.legacy.notes import (
    ConversionNote,
    ServiceIndex,
    converted_metadata,
    source_of,
)
from mainsail.config.legacy.rbac import (
    AccessRule,
    ClusterRbacConfig,
    RbacConfig,
    ServiceRole,
    ServiceRoleBinding,
    Subject,
)

BETA = "security.istio.io/v1beta1"
Labels = dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class RbacConversion:
    authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    notes: tuple[ConversionNote, ...] = ()
    # Whether a (Cluster)RbacConfig turned RBAC on: without one Istio enforced no ServiceRole.
    enabled: bool = False
    # The policies for what Istio enforced (see ``_enforced``); the snapshot applies these.
    enforced: tuple[AuthorizationPolicy, ...] = ()


class _Unsupported(Exception):
    pass


def mesh_rbac_config(
    resources: Iterable[Resource], notes: list[ConversionNote]
) -> ClusterRbacConfig | RbacConfig | None:
    """The mesh's RBAC switch: ClusterRbacConfig ``default``, else RbacConfig ``default``."""
    configs = [r for r in resources if isinstance(r, ClusterRbacConfig | RbacConfig)]
    chosen: ClusterRbacConfig | RbacConfig | None = None
    for kind in (ClusterRbacConfig, RbacConfig):
        named = [c for c in configs if isinstance(c, kind) and c.name == "default"]
        if named and chosen is None:
            chosen = named[0]
    for config in configs:
        if config is not chosen:
            notes.append(
                ConversionNote(
                    "warning",
                    source_of(config),
                    "ignored: Istio reads only the ClusterRbacConfig named default "
                    "(or, without one, the RbacConfig named default)",
                )
            )
    return chosen


def convert_rbac(
    resources: Sequence[Resource], services: ServiceIndex, root_namespace: str
) -> RbacConversion:
    """Every AuthorizationPolicy the RBAC documents among ``resources`` convert to."""
    notes: list[ConversionNote] = []
    config = mesh_rbac_config(resources, notes)
    roles = [r for r in resources if isinstance(r, ServiceRole)]
    bindings = [r for r in resources if isinstance(r, ServiceRoleBinding)]
    if config is None and not roles and not bindings:
        return RbacConversion(notes=tuple(notes))
    selectors = _service_selectors(services)
    policies: list[AuthorizationPolicy] = []
    if config is None:
        notes.append(
            ConversionNote(
                "warning",
                "ClusterRbacConfig",
                "no ClusterRbacConfig: Istio did not enforce these ServiceRoles; "
                "converted anyway (as istioctl --allowNoClusterRbacConfig)",
            )
        )
    else:
        policies += _convert_config(config, selectors, root_namespace, notes)
    for binding in bindings:
        _check_binding(binding, notes)
    for role in sorted(roles, key=lambda r: (r.namespace, r.name)):
        bound = [
            b
            for b in bindings
            if b.namespace == role.namespace
            and b.spec.role_ref is not None
            and b.spec.role_ref.name == role.name
        ]
        if not bound:
            notes.append(
                ConversionNote(
                    "warning", source_of(role), "ignored: no ServiceRoleBinding refers to it"
                )
            )
            continue
        try:
            policies += _convert_role(role, bound, selectors.get(role.namespace, {}), notes)
        except _Unsupported as exc:
            notes.append(ConversionNote("error", source_of(role), str(exc)))
    return RbacConversion(
        authorization_policies=tuple(policies),
        notes=tuple(notes),
        enabled=config is not None and config.spec.effective_mode != "OFF",
        enforced=tuple(p for p in policies if _enforced(p, config, services)),
    )


def _enforced(
    policy: AuthorizationPolicy,
    config: ClusterRbacConfig | RbacConfig | None,
    services: ServiceIndex,
) -> bool:
    """Whether Istio 1.5 enforced what ``policy`` was converted from: under ON_WITH_INCLUSION
    only the included namespaces and services had RBAC (``IsRBACEnabled``); the migration tool
    converts every ServiceRole regardless, the snapshot applies only these."""
    if config is None or config.spec.effective_mode != "ON_WITH_INCLUSION":
        return True
    inclusion = config.spec.inclusion
    if inclusion is None or policy.namespace in inclusion.namespaces:
        return True
    selector = dict(policy.spec.selector.match_labels) if policy.spec.selector else {}
    for service in inclusion.services:
        name, _, rest = service.partition(".")
        namespace = rest.split(".")[0]
        found = services.get((namespace, name))
        if namespace != policy.namespace or found is None:
            continue
        # A policy without selector (a ServiceRole for "*") covers the included service too; it
        # then also covers its neighbours, which Istio left alone (not expressible per service).
        if not selector or dict(found.spec.selector or {}) == selector:
            return True
    return False


def _service_selectors(services: ServiceIndex) -> dict[str, dict[str, Labels]]:
    out: dict[str, dict[str, Labels]] = {}
    for (namespace, name), service in sorted(services.items()):
        out.setdefault(namespace, {})[name] = dict(service.spec.selector or {})
    return out


def _policy(
    source: Resource, name: str, namespace: str, comment: str, spec: Mapping[str, Any]
) -> AuthorizationPolicy:
    return AuthorizationPolicy.model_validate(
        {
            "apiVersion": BETA,
            "kind": "AuthorizationPolicy",
            "metadata": converted_metadata(source, name, namespace, comment),
            "spec": dict(spec),
        }
    )


_ALLOW_ALL: Mapping[str, Any] = {"rules": [{}]}


def _convert_config(
    config: ClusterRbacConfig | RbacConfig,
    selectors: Mapping[str, Mapping[str, Labels]],
    root: str,
    notes: list[ConversionNote],
) -> list[AuthorizationPolicy]:
    mode = config.spec.effective_mode
    what = f"Generated from {config.kind} with mode {mode}"
    if mode == "OFF":
        return [_policy(config, "generated-global-allow-all", root, what, _ALLOW_ALL)]
    if mode == "ON":
        return [_policy(config, "generated-global-deny-all", root, what, {})]
    out: list[AuthorizationPolicy] = []
    target = config.spec.inclusion if mode == "ON_WITH_INCLUSION" else config.spec.exclusion
    services = target.services if target else ()
    namespaces = target.namespaces if target else ()
    verdict = "deny" if mode == "ON_WITH_INCLUSION" else "allow"
    field = "spec.inclusion" if mode == "ON_WITH_INCLUSION" else "spec.exclusion"
    for index, service in enumerate(services):
        found = _config_service(config, f"{field}.services[{index}]", service, selectors, notes)
        if found is None:
            continue
        name, namespace, labels = found
        spec: dict[str, Any] = {"selector": {"matchLabels": labels}} if labels else {}
        if verdict == "allow":
            spec["rules"] = [{}]
        out.append(
            _policy(
                config,
                f"generated-service-{name}-{verdict}-all",
                namespace,
                f"{what} on service {service!r}",
                spec,
            )
        )
    if mode == "ON_WITH_EXCLUSION":
        out.append(_policy(config, "generated-global-deny-all", root, what, {}))
    for namespace in namespaces:
        spec = {} if verdict == "deny" else dict(_ALLOW_ALL)
        out.append(
            _policy(
                config,
                f"generated-namespace-{verdict}-all",
                namespace,
                f"{what} on namespace {namespace!r}",
                spec,
            )
        )
    return out


def _config_service(
    config: Resource,
    where: str,
    service: str,
    selectors: Mapping[str, Mapping[str, Labels]],
    notes: list[ConversionNote],
) -> tuple[str, str, Labels] | None:
    parts = service.split(".")
    if len(parts) < 2:
        notes.append(
            ConversionNote(
                "error", source_of(config), f"{where}: {service!r} is not name.namespace[.svc...]"
            )
        )
        return None
    found = _selectors_for_service(service, selectors.get(parts[1], {}))
    if len(found) > 1:
        notes.append(
            ConversionNote(
                "error", source_of(config), f"{where}: wildcard is not supported here: {service!r}"
            )
        )
        return None
    if not found:
        notes.append(
            ConversionNote(
                "warning", source_of(config), f"{where}: ignored {service!r}: no such service"
            )
        )
        return None
    return parts[0], parts[1], found[0]


def _selectors_for_service(service: str, by_name: Mapping[str, Labels]) -> list[Labels]:
    if service == "*":
        return [{}]  # every workload of the namespace: no selector
    if service.startswith("*"):
        return [dict(by_name[n]) for n in sorted(by_name) if n.endswith(service[1:])]
    if service.endswith("*"):
        return [dict(by_name[n]) for n in sorted(by_name) if n.startswith(service[:-1])]
    short = service.split(".")[0]
    return [dict(by_name[short])] if short in by_name else []


def _check_binding(binding: ServiceRoleBinding, notes: list[ConversionNote]) -> None:
    spec = binding.spec
    if spec.role_ref is None or not spec.role_ref.name:
        notes.append(
            ConversionNote(
                "error", source_of(binding), "spec.roleRef.name: required; binding ignored"
            )
        )
    if spec.role or spec.actions:
        notes.append(
            ConversionNote(
                "warning",
                source_of(binding),
                "spec.role/spec.actions were never enforced by Istio and are not converted",
            )
        )
    if spec.mode == "PERMISSIVE":
        notes.append(
            ConversionNote(
                "warning",
                source_of(binding),
                "spec.mode PERMISSIVE (log only) has no AuthorizationPolicy equivalent; converted "
                "as enforced (consider the istio.io/dry-run annotation)",
            )
        )


def _subject_rule(subject: Subject, notes: list[ConversionNote], source: str) -> dict[str, Any]:
    src: dict[str, list[str]] = {}
    when: list[dict[str, Any]] = []

    def add(key: str, values: Iterable[str]) -> None:
        vals = list(values)
        if vals:
            src.setdefault(key, []).extend(vals)

    if subject.user and subject.user != "*":
        add("principals", [subject.user])
    add("principals", subject.names)
    add("notPrincipals", subject.not_names)
    add("namespaces", subject.namespaces)
    add("notNamespaces", subject.not_namespaces)
    add("ipBlocks", subject.ips)
    add("notIpBlocks", subject.not_ips)
    if subject.group and subject.group != "*":
        when.append({"key": "request.auth.claims[group]", "values": [subject.group]})
    if subject.groups or subject.not_groups:
        condition: dict[str, Any] = {"key": "request.auth.claims[groups]"}
        if subject.groups:
            condition["values"] = list(subject.groups)
        if subject.not_groups:
            condition["notValues"] = list(subject.not_groups)
        when.append(condition)
    for key, value in sorted(subject.properties.items()):
        if key == "source.principal":
            add("principals", [value])
        if value == "*":
            if key != "source.principal":
                notes.append(
                    ConversionNote(
                        "warning", source, f"ignored property {key!r} with wildcard value"
                    )
                )
            continue
        if key == "source.ip":
            src["ipBlocks"] = [value]
        elif key == "source.namespace":
            src["namespaces"] = [value]
        elif key == "request.auth.principal":
            src["requestPrincipals"] = [value]
        elif key != "source.principal":
            when.append({"key": key, "values": [value]})
    rule: dict[str, Any] = {}
    if src:
        rule["from"] = [{"source": src}]
    if when:
        rule["when"] = when
    return rule


def _operation_and_when(
    rule: AccessRule, where: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    operation: dict[str, Any] = {}
    for key, values in (
        ("paths", [p for p in rule.paths if p != "*"]),
        ("notPaths", list(rule.not_paths)),
        ("methods", [m for m in rule.methods if m != "*"]),
        ("notMethods", list(rule.not_methods)),
        ("hosts", list(rule.hosts)),
        ("notHosts", list(rule.not_hosts)),
        ("ports", [str(p) for p in rule.ports]),
        ("notPorts", [str(p) for p in rule.not_ports]),
    ):
        if values:
            operation[key] = values
    when: list[dict[str, Any]] = []
    for index, constraint in enumerate(rule.constraints):
        key = constraint.key or ""
        if key.startswith("destination.labels") or key == "destination.namespace":
            continue
        if key in ("destination.ip", "destination.user"):
            raise _Unsupported(
                f"{where}.constraints[{index}]: {key} is no longer supported in "
                "AuthorizationPolicy; the role was not converted"
            )
        if key == "destination.port":
            operation["ports"] = list(constraint.values)
            continue
        values = [v for v in constraint.values if v != "*"]
        if values:
            when.append({"key": key, "values": values})
    return operation, when


def _selectors_from_constraints(rule: AccessRule, where: str) -> list[Labels]:
    merged: list[Labels] = []
    for constraint in rule.constraints:
        key = constraint.key or ""
        if key.startswith("destination.labels["):
            label = key.removeprefix("destination.labels[").removesuffix("]")
            merged = _merge(merged, [{label: v} for v in constraint.values], where)
    return merged


def _merge(first: list[Labels], second: list[Labels], where: str) -> list[Labels]:
    if not first:
        return second
    if not second:
        return first
    out: list[Labels] = []
    for a in first:
        for b in second:
            both = dict(a)
            for k, v in b.items():
                if both.get(k, v) != v:
                    raise _Unsupported(
                        f"{where}: duplicate workload label {k!r} with conflicting values "
                        f"{both[k]!r}, {v!r}"
                    )
                both[k] = v
            out.append(both)
    return out


def _convert_role(
    role: ServiceRole,
    bindings: Sequence[ServiceRoleBinding],
    selectors: Mapping[str, Labels],
    notes: list[ConversionNote],
) -> list[AuthorizationPolicy]:
    base = [
        _subject_rule(subject, notes, source_of(binding))
        for binding in sorted(bindings, key=lambda b: b.name)
        for subject in binding.spec.subjects
    ]
    if not base:
        raise _Unsupported("its ServiceRoleBindings have no subjects; the role was not converted")
    out: list[AuthorizationPolicy] = []
    for i, rule in enumerate(role.spec.rules):
        where = f"spec.rules[{i}]"
        operation, when = _operation_and_when(rule, where)
        rules = []
        for subject_rule in base:
            merged = dict(subject_rule)
            if operation:
                merged["to"] = [{"operation": operation}]
            conditions = [*subject_rule.get("when", []), *when]
            if conditions:
                merged["when"] = sorted(conditions, key=lambda c: str(c["key"]))
            rules.append(merged)
        from_constraints = _selectors_from_constraints(rule, where)
        for j, service in enumerate(rule.services):
            found = _merge(_selectors_for_service(service, selectors), from_constraints, where)
            if not found:
                notes.append(
                    ConversionNote(
                        "warning",
                        source_of(role),
                        f"{where}.services[{j}]: ignored {service!r}: no such service",
                    )
                )
            for k, labels in enumerate(found):
                spec: dict[str, Any] = {"rules": rules}
                if labels:
                    spec = {"selector": {"matchLabels": labels}, **spec}
                out.append(
                    _policy(
                        role,
                        f"generated-{role.name}-rule{i}-svc{j}-target{k}",
                        role.namespace,
                        f"Generated for service {service!r} found in ServiceRole "
                        f"{role.name!r} at rule {i}",
                        spec,
                    )
                )
        if not rule.services:
            out.append(
                _policy(
                    role,
                    f"generated-{role.name}-rule{i}",
                    role.namespace,
                    f"Generated for ServiceRole {role.name!r} at rule {i}",
                    {"rules": rules},
                )
            )
    return out
