"""One AuthorizationPolicy rule → one Envoy RBAC ``Policy`` (istiod's ``authz/model/model.go``).

A rule's ``from`` entries become the policy's principals (ORed), its ``to`` entries its
permissions (ORed); inside each, the fields and the ``when`` conditions are ANDed, in istiod's
order (source/operation fields first, ``when`` conditions after, each in declaration order), so
generated config reads like istiod's. Values of one field are ORed; ``not`` values become
``not_id``/``not_rule`` of their OR.

HTTP-only fields on a TCP chain, and malformed values: for ALLOW the whole rule is dropped (the
policy becomes narrower); for DENY and AUDIT only that condition is dropped (broader), istiod's
``rule.checkError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from envoy.config.rbac.v3 import rbac_pb2

from mainsail.config.istio.authorization_policy import Condition, Operation, Rule, Source
from mainsail.xds import authz_matchers as m
from mainsail.xds.authz_matchers import Attribute, M, NotApplicable

RbacAction = Literal["ALLOW", "DENY", "LOG"]
V = TypeVar("V", str, Sequence[str])

KNOWN_WHEN_KEYS = (
    "request.headers[<name>]",
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "source.serviceAccount",
    "source.trustDomain",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "request.auth.claims[<name>]",
    "destination.ip",
    "destination.port",
    "connection.sni",
    "experimental.envoy.filters.<filter>[<key>]",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Term(Generic[M]):
    """One field or condition of a rule: its key, values and not-values, and how to match them."""

    key: str
    values: tuple[str, ...]
    not_values: tuple[str, ...]
    attribute: Attribute[M]


Permissions = list[Term[rbac_pb2.Permission]]
Principals = list[Term[rbac_pb2.Principal]]


class UnknownAttribute(ValueError):
    """A ``when`` key istiod does not know (validation rejects it; translation skips the rule)."""


def _when_terms(rule: Rule, policy_namespace: str) -> tuple[Permissions, Principals]:
    permissions: Permissions = []
    principals: Principals = []
    for condition in rule.when:
        key = condition.key
        to_permission = _when_permission(key)
        if to_permission is not None:
            _add(permissions, condition, to_permission)
            continue
        to_principal = _when_principal(key, policy_namespace)
        if to_principal is None:
            raise UnknownAttribute(
                f"unknown attribute {key!r} (known: {', '.join(KNOWN_WHEN_KEYS)})"
            )
        _add(principals, condition, to_principal)
    return permissions, principals


def _when_permission(key: str) -> Attribute[rbac_pb2.Permission] | None:
    if key == "destination.ip":
        return m.DEST_IP
    if key == "destination.port":
        return m.DEST_PORT
    if key == "connection.sni":
        return m.SNI
    if key.startswith("experimental.envoy.filters."):
        return m.ENVOY_FILTER
    return None


def _when_principal(key: str, policy_namespace: str) -> Attribute[rbac_pb2.Principal] | None:
    fixed = {
        "source.ip": m.SOURCE_IP,
        "remote.ip": m.REMOTE_IP,
        "source.namespace": m.NAMESPACES,
        "source.trustDomain": m.TRUST_DOMAINS,
        "source.principal": m.PRINCIPALS,
        "request.auth.principal": m.REQUEST_PRINCIPALS,
        "request.auth.audiences": m.REQUEST_AUDIENCES,
        "request.auth.presenter": m.REQUEST_PRESENTER,
    }
    if key in fixed:
        return fixed[key]
    if key == "source.serviceAccount":
        return m.service_account(policy_namespace)
    if key.startswith("request.headers"):
        return m.REQUEST_HEADER
    if key.startswith("request.auth.claims"):
        return m.REQUEST_CLAIMS
    return None


def _add(terms: list[Term[M]], condition: Condition, attribute: Attribute[M]) -> None:
    if condition.values or condition.not_values:
        terms.append(
            Term(
                key=condition.key,
                values=condition.values,
                not_values=condition.not_values,
                attribute=attribute,
            )
        )


def _front(
    terms: list[Term[M]],
    key: str,
    values: tuple[str, ...],
    not_values: tuple[str, ...],
    attribute: Attribute[M],
) -> None:
    if values or not_values:
        terms.insert(0, Term(key=key, values=values, not_values=not_values, attribute=attribute))


def _source_terms(source: Source, base: Principals, policy_namespace: str) -> Principals:
    # Inserted at the front in reverse, so principals come out first: istiod's order.
    terms = list(base)
    _front(terms, "source.ip", source.ip_blocks, source.not_ip_blocks, m.SOURCE_IP)
    _front(terms, "remote.ip", source.remote_ip_blocks, source.not_remote_ip_blocks, m.REMOTE_IP)
    _front(terms, "source.namespace", source.namespaces, source.not_namespaces, m.NAMESPACES)
    _front(
        terms,
        "source.trustDomain",
        source.trust_domains,
        source.not_trust_domains,
        m.TRUST_DOMAINS,
    )
    _front(
        terms,
        "source.serviceAccount",
        source.service_accounts,
        source.not_service_accounts,
        m.service_account(policy_namespace),
    )
    _front(
        terms,
        "request.auth.principal",
        source.request_principals,
        source.not_request_principals,
        m.REQUEST_PRINCIPALS,
    )
    _front(terms, "source.principal", source.principals, source.not_principals, m.PRINCIPALS)
    return terms


def _operation_terms(operation: Operation, base: Permissions) -> Permissions:
    terms = list(base)
    _front(terms, "destination.port", operation.ports, operation.not_ports, m.DEST_PORT)
    _front(terms, "path", operation.paths, operation.not_paths, m.PATHS)
    _front(terms, ":method", operation.methods, operation.not_methods, m.METHODS)
    _front(terms, ":authority", operation.hosts, operation.not_hosts, m.HOSTS)
    return terms


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustDomains:
    """The mesh trust domain and its aliases (istiod's ``trustdomain.Bundle``)."""

    domains: tuple[str, ...]

    def principals(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """Each ``<td>/ns/<ns>/sa/<sa>`` of ours (or ``cluster.local``), once per trust domain."""
        found: list[str] = []
        for value in values:
            parts = value.split("/")
            if len(parts) != 5 or parts[0] == "*":
                found.append(value)
                continue
            if not (_td_match(parts[0], self.domains) or parts[0] == "cluster.local"):
                found.append(value)
                continue
            for domain in self.domains:
                changed = value if _suffix(domain, parts[0]) else "/".join([domain, *parts[1:]])
                if changed not in found:
                    found.append(changed)
        return tuple(found)

    def expand(self, values: tuple[str, ...]) -> tuple[str, ...]:
        found: list[str] = []
        for value in values:
            for one in self.domains if value in self.domains else (value,):
                if one not in found:
                    found.append(one)
        return tuple(found)


def _prefix(a: str, pattern: str) -> bool:
    return pattern.endswith("*") and a.startswith(pattern[:-1])


def _suffix(a: str, pattern: str) -> bool:
    return pattern.startswith("*") and a.endswith(pattern[1:])


def _td_match(a: str, domains: Sequence[str]) -> bool:
    return any(
        a == d or d == "*" or _prefix(a, d) or _prefix(d, a) or _suffix(a, d) or _suffix(d, a)
        for d in domains
    )


def _with_aliases(terms: Principals, trust: TrustDomains) -> Principals:
    result: Principals = []
    for term in terms:
        if term.key == "source.principal":
            term = Term(
                key=term.key,
                values=trust.principals(term.values),
                not_values=trust.principals(term.not_values),
                attribute=term.attribute,
            )
        elif term.key == "source.trustDomain":
            term = Term(
                key=term.key,
                values=trust.expand(term.values),
                not_values=trust.expand(term.not_values),
                attribute=term.attribute,
            )
        result.append(term)
    return result


def build_rbac_policy(
    rule: Rule,
    policy_namespace: str,
    *,
    for_tcp: bool,
    action: RbacAction,
    trust: TrustDomains,
) -> rbac_pb2.Policy | None:
    """The RBAC policy of one rule, or None when the rule must be skipped (ALLOW with an
    attribute that cannot apply here; an unknown ``when`` key)."""
    try:
        base_permissions, base_principals = _when_terms(rule, policy_namespace)
    except UnknownAttribute:
        return None
    principal_lists = [
        _source_terms(f.source, base_principals, policy_namespace)
        if f.source is not None
        else list(base_principals)
        for f in rule.from_
    ] or [list(base_principals)]
    permission_lists = [
        _operation_terms(t.operation, base_permissions)
        if t.operation is not None
        else list(base_permissions)
        for t in rule.to
    ] or [list(base_permissions)]
    try:
        permissions = [
            m.permission_and(
                _all_terms(terms, for_tcp, action, m.permission_or, m.permission_not)
                or [m.permission_any()]
            )
            for terms in permission_lists
        ]
        principals = [
            m.principal_and(
                _all_terms(
                    _with_aliases(terms, trust), for_tcp, action, m.principal_or, m.principal_not
                )
                or [m.principal_any()]
            )
            for terms in principal_lists
        ]
    except NotApplicable:
        return None
    return rbac_pb2.Policy(permissions=permissions, principals=principals)


def _all_terms(
    terms: Sequence[Term[M]],
    for_tcp: bool,
    action: RbacAction,
    either: Callable[[Sequence[M]], M],
    negate: Callable[[M], M],
) -> list[M]:
    found: list[M] = []
    for term in terms:
        found += _term(term, for_tcp, action, either, negate)
    return found


def _term(
    term: Term[M],
    for_tcp: bool,
    action: RbacAction,
    either: Callable[[Sequence[M]], M],
    negate: Callable[[M], M],
) -> list[M]:
    """The matchers of one term; ``NotApplicable`` escapes only for ALLOW (drop the rule)."""
    found: list[M] = []
    for values, negated in ((term.values, False), (term.not_values, True)):
        if not values:
            continue
        built: M | None = None
        many, one = term.attribute.many, term.attribute.one
        if many is not None:
            built = _checked(action, many, term.key, values, for_tcp)
        elif one is not None:
            ored = [
                matcher
                for value in values
                if (matcher := _checked(action, one, term.key, value, for_tcp)) is not None
            ]
            built = either(ored) if ored else None
        if built is not None:
            found.append(negate(built) if negated else built)
    return found


def _checked(
    action: RbacAction, build: Callable[[str, V, bool], M], key: str, value: V, for_tcp: bool
) -> M | None:
    try:
        return build(key, value, for_tcp)
    except NotApplicable:
        if action == "ALLOW":
            raise
        return None
