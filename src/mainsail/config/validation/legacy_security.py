"""The book's legacy security kinds, validated as Istio 1.5 did (``pkg/config/validation``
``ValidateAuthenticationPolicy``, ``checkRbacConfig``, ``ValidateServiceRole``,
``checkServiceRoleBinding``).

Deliberate deviations, so that the book's examples are accepted (each is a warning instead of
istiod's error, and says what Mainsail does): a MeshPolicy or target-less Policy not named
``default`` (Mainsail applies it mesh-/namespace-wide, as Istio's migration tool converts it), a
target named by its FQDN in the policy's own namespace (read as the short name). Fields Istio
ignored (see ``config.legacy.base``) are warned about.
"""

from __future__ import annotations

from collections.abc import Sequence

from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.legacy.authentication import Jwt, MeshPolicy, Policy, target_service_name
from mainsail.config.legacy.base import unknown_fields
from mainsail.config.legacy.rbac import (
    AccessRule,
    ClusterRbacConfig,
    RbacConfig,
    ServiceRole,
    ServiceRoleBinding,
    Subject,
)
from mainsail.config.validation.rules import Findings, check_port, is_dns1123_label
from mainsail.config.validation.security_rules import jwks_uri_problem

DEFAULT = "default"


def _check_jwt(f: Findings, path: str, jwt: Jwt) -> None:
    if not jwt.issuer:
        f.add(f"{path}.issuer", "issuer must be set", ErrorCode.RA_JWT)
    for i, audience in enumerate(jwt.audiences):
        if not audience:
            f.add(f"{path}.audiences[{i}]", "audience must be non-empty string", ErrorCode.RA_JWT)
    if jwt.jwks_uri and (problem := jwks_uri_problem(jwt.jwks_uri)):
        f.add(f"{path}.jwksUri", problem, ErrorCode.RA_JWT)
    for i, header in enumerate(jwt.jwt_headers):
        if not header:
            f.add(
                f"{path}.jwtHeaders[{i}]",
                "location header must be non-empty string",
                ErrorCode.RA_JWT,
            )
    for i, param in enumerate(jwt.jwt_params):
        if not param:
            f.add(
                f"{path}.jwtParams[{i}]",
                "location query must be non-empty string",
                ErrorCode.RA_JWT,
            )


def _warn_unknown(f: Findings, resource: Resource) -> None:
    spec = getattr(resource, "spec", None)
    if spec is None:
        return
    for path in unknown_fields(spec, "spec"):
        f.warn(
            path,
            f"unknown field {path.rsplit('.', 1)[-1]!r} is ignored (as Istio ignored it); "
            "check its spelling and indentation",
            ErrorCode.SCHEMA_UNKNOWN_FIELD,
        )


def validate_authentication_policy(policy: Policy | MeshPolicy) -> list[ConfigError]:
    f = Findings()
    _warn_unknown(f, policy)
    spec = policy.spec
    if isinstance(policy, MeshPolicy):
        if policy.name != DEFAULT:
            f.warn(
                "metadata.name",
                f"Istio requires the MeshPolicy to be named {DEFAULT!r} (found {policy.name!r}) "
                "and ignored others; Mainsail applies it mesh-wide",
                ErrorCode.AUTHN_POLICY,
            )
        if spec.targets:
            f.add(
                "spec.targets",
                "cluster-scoped authentication policy must not have targets",
                ErrorCode.AUTHN_POLICY,
            )
    else:
        if not spec.targets and policy.name != DEFAULT:
            f.warn(
                "metadata.name",
                f"Istio requires a policy without targets to be named {DEFAULT!r} (found "
                f"{policy.name!r}); Mainsail applies it namespace-wide",
                ErrorCode.AUTHN_POLICY,
            )
        if spec.targets and policy.name == DEFAULT:
            f.add(
                "spec.targets",
                f"authentication policy with name {DEFAULT!r} must not have any target rules",
                ErrorCode.AUTHN_POLICY,
            )
        for i, target in enumerate(spec.targets):
            where = f"spec.targets[{i}]"
            short = target_service_name(target.name, policy.namespace)
            if short is None:
                f.add(
                    f"{where}.name",
                    f"target name {target.name!r} must be a service short name in namespace "
                    f"{policy.namespace}",
                    ErrorCode.AUTHN_POLICY,
                )
            elif short != target.name:
                f.warn(
                    f"{where}.name",
                    f"Istio requires a short name; {target.name!r} is read as {short!r}",
                    ErrorCode.AUTHN_POLICY,
                )
            for j, port in enumerate(target.ports):
                port_path = f"{where}.ports[{j}]"
                if port.name is None and not port.number:
                    f.add(
                        port_path,
                        "a port selector needs a number (1..65535) or a name",
                        ErrorCode.PORT,
                    )
                elif port.number is not None:
                    check_port(f, f"{port_path}.number", port.number)
                elif port.name is not None and not is_dns1123_label(port.name):
                    f.add(
                        f"{port_path}.name",
                        f"port name {port.name!r} must be a DNS-1123 label",
                        ErrorCode.PORT_NAME,
                    )
    issuers: set[str] = set()
    jwts = [(f"spec.peers[{i}].jwt", p.jwt) for i, p in enumerate(spec.peers) if p.jwt is not None]
    for i, origin in enumerate(spec.origins):
        if origin.jwt is None:
            f.add(f"spec.origins[{i}].jwt", "jwt cannot be empty", ErrorCode.RA_JWT)
        else:
            jwts.append((f"spec.origins[{i}].jwt", origin.jwt))
    for path, jwt in jwts:
        if jwt.issuer in issuers:
            f.add(
                f"{path}.issuer",
                f"jwt with issuer {jwt.issuer!r} already defined",
                ErrorCode.RA_JWT,
            )
        issuers.add(jwt.issuer or "")
        _check_jwt(f, path, jwt)
    return f.items


def validate_rbac_config(config: RbacConfig | ClusterRbacConfig) -> list[ConfigError]:
    f = Findings()
    _warn_unknown(f, config)
    if config.name != DEFAULT:
        f.add(
            "metadata.name",
            f"{config.kind} has invalid name ({config.name}), name must be {DEFAULT!r}",
            ErrorCode.RBAC_CONFIG,
        )
    mode = config.spec.effective_mode
    if mode == "ON_WITH_INCLUSION" and config.spec.inclusion is None:
        f.add(
            "spec.inclusion",
            "inclusion cannot be null (use 'inclusion: {}' for none)",
            ErrorCode.RBAC_CONFIG,
        )
    if mode == "ON_WITH_EXCLUSION" and config.spec.exclusion is None:
        f.add(
            "spec.exclusion",
            "exclusion cannot be null (use 'exclusion: {}' for none)",
            ErrorCode.RBAC_CONFIG,
        )
    if isinstance(config, RbacConfig):
        f.warn(
            "kind", "RbacConfig is deprecated, use ClusterRbacConfig instead", ErrorCode.RBAC_CONFIG
        )
    return f.items


def _check_rules(f: Findings, path: str, rules: Sequence[AccessRule]) -> None:
    if not rules:
        f.add(path, "at least 1 rule must be specified", ErrorCode.RBAC_ROLE)
    for i, rule in enumerate(rules):
        where = f"{path}[{i}]"
        for regular, negated, wire in (
            (rule.methods, rule.not_methods, "methods"),
            (rule.ports, rule.not_ports, "ports"),
        ):
            if regular and negated:
                f.add(
                    where,
                    f"cannot have both regular and *not* attributes for the same kind (i.e. {wire} and not_{wire})",
                    ErrorCode.RBAC_ROLE,
                )
        for wire, ports in (("ports", rule.ports), ("notPorts", rule.not_ports)):
            for j, port in enumerate(ports):
                if not 0 <= port <= 65535:
                    f.add(
                        f"{where}.{wire}[{j}]",
                        f"port {port} is not in the range of [0, 65535]",
                        ErrorCode.PORT,
                    )
        for j, constraint in enumerate(rule.constraints):
            c_path = f"{where}.constraints[{j}]"
            if not constraint.key:
                f.add(f"{c_path}.key", "key cannot be empty", ErrorCode.RBAC_ROLE)
            if not constraint.values:
                f.add(f"{c_path}.values", "at least 1 value must be specified", ErrorCode.RBAC_ROLE)
            if constraint.key == "destination.port" and (rule.ports or rule.not_ports):
                f.add(
                    c_path,
                    "cannot define destination.port because a similar first-class field (ports) has been defined",
                    ErrorCode.RBAC_ROLE,
                )


def validate_service_role(role: ServiceRole) -> list[ConfigError]:
    f = Findings()
    _warn_unknown(f, role)
    _check_rules(f, "spec.rules", role.spec.rules)
    return f.items


_FIRST_CLASS = {
    "source.principal": "names",
    "request.auth.claims[groups]": "groups",
    "source.namespace": "namespaces",
    "source.ip": "ips",
}


def _subject_empty(subject: Subject) -> bool:
    return not (
        subject.user or subject.group or subject.properties or subject.namespaces
        or subject.not_namespaces or subject.groups or subject.not_groups or subject.ips
        or subject.not_ips or subject.names or subject.not_names
    )  # fmt: skip


def validate_service_role_binding(binding: ServiceRoleBinding) -> list[ConfigError]:
    f = Findings()
    _warn_unknown(f, binding)
    spec = binding.spec
    if not spec.subjects:
        f.add("spec.subjects", "at least 1 subject must be specified", ErrorCode.RBAC_BINDING)
    for i, subject in enumerate(spec.subjects):
        where = f"spec.subjects[{i}]"
        if _subject_empty(subject):
            f.add(where, "empty subjects are not allowed", ErrorCode.RBAC_BINDING)
        for key in subject.properties:
            field = _FIRST_CLASS.get(key)
            if field and getattr(subject, field):
                f.add(
                    f"{where}.properties[{key}]",
                    f"cannot define {key} because a similar first-class field ({field}) has been defined",
                    ErrorCode.RBAC_BINDING,
                )
        if "*" in subject.names or "*" in subject.not_names:
            f.add(where, "do not use * for names or notNames", ErrorCode.RBAC_BINDING)
    given = [
        n
        for n, present in (
            ("roleRef", spec.role_ref is not None),
            ("role", bool(spec.role)),
            ("actions", bool(spec.actions)),
        )
        if present
    ]
    if len(given) != 1:
        f.add(
            "spec",
            f"exactly one of `roleRef`, `role`, or `actions` must be specified (found {len(given)})",
            ErrorCode.RBAC_BINDING,
        )
    if spec.role_ref is not None:
        if spec.role_ref.kind != "ServiceRole":
            f.add(
                "spec.roleRef.kind",
                f"kind set to {spec.role_ref.kind!r}, currently the only supported value is 'ServiceRole'",
                ErrorCode.RBAC_BINDING,
            )
        if not spec.role_ref.name:
            f.add(
                "spec.roleRef.name", "`name` in `roleRef` cannot be empty", ErrorCode.RBAC_BINDING
            )
    if spec.actions:
        _check_rules(f, "spec.actions", spec.actions)
    if spec.role == "/":
        f.add("spec.role", "`role` cannot have an empty ServiceRole name", ErrorCode.RBAC_BINDING)
    return f.items
