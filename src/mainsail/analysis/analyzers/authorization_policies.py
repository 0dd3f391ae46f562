"""auth.AuthorizationPoliciesAnalyzer: policies that apply to no workload or name no namespace.

Istio's semantics: a policy in the root namespace with a selector must select a workload
somewhere (IST0127); a namespace-wide policy needs a workload in its namespace (IST0127 with
empty labels); a selector elsewhere must select a workload of its namespace. Every
``source.namespaces``/``notNamespaces`` entry (``*``, ``prefix*``, ``*suffix`` or exact, case
insensitive) must match a namespace (IST0101 ``namespace``).

Deviation: Mainsail's config has no Namespace kind, so the namespaces that exist are those any
object lives in, the root namespace and ``default`` (Istio reads Namespace objects).
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    NO_MATCHING_WORKLOADS_FOUND,
    REFERENCED_RESOURCE_NOT_FOUND,
    Message,
    label_selector,
    quoted,
)
from mainsail.config.istio.authorization_policy import AuthorizationPolicy


def namespace_matches(namespace: str, pattern: str) -> bool:
    """Istio's ``namespaceMatch``."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


def _workloads(ctx: AnalysisContext, policy: AuthorizationPolicy) -> Iterator[Message]:
    selector = policy.spec.selector
    root = policy.namespace == ctx.snapshot.mesh.root_namespace
    if root and selector is None:
        return
    if selector is None:
        if not ctx.selected_workloads({}, policy.namespace):
            yield ctx.message(NO_MATCHING_WORKLOADS_FOUND, "", resource=policy)
        return
    where = None if root else policy.namespace
    if not ctx.selected_workloads(selector.match_labels, where):
        yield ctx.message(
            NO_MATCHING_WORKLOADS_FOUND,
            label_selector(selector.match_labels),
            resource=policy,
            path="spec.selector",
        )


def _namespaces(
    ctx: AnalysisContext, policy: AuthorizationPolicy, known: frozenset[str]
) -> Iterator[Message]:
    for i, rule in enumerate(policy.spec.rules):
        for j, from_ in enumerate(rule.from_):
            source = from_.source
            if source is None:
                continue
            fields = (("namespaces", source.namespaces), ("notNamespaces", source.not_namespaces))
            for field, patterns in fields:
                for k, pattern in enumerate(patterns):
                    if any(namespace_matches(ns, pattern) for ns in known):
                        continue
                    yield ctx.message(
                        REFERENCED_RESOURCE_NOT_FOUND,
                        "namespace",
                        quoted(pattern),
                        resource=policy,
                        path=f"spec.rules[{i}].from[{j}].source.{field}[{k}]",
                    )


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    known = frozenset(
        {r.namespace for r in ctx.resources} | {ctx.snapshot.mesh.root_namespace, "default"}
    )
    for policy in ctx.of_kind(AuthorizationPolicy):
        yield from _workloads(ctx, policy)
        yield from _namespaces(ctx, policy, known)


ANALYZER = Analyzer(
    name="auth.AuthorizationPoliciesAnalyzer",
    description="Checks the validity of authorization policies",
    run=_analyze,
)
