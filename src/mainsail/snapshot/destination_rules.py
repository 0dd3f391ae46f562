"""Which DestinationRule applies to a host, and the traffic policy for one port and subset.

Lookup order (Istio's ``PushContext.destinationRule``): the proxy's namespace, then the service's
namespace, then the root namespace; exact hosts before wildcards, most specific wildcard first.
Rules with a ``workloadSelector`` count only in their own namespace, for the proxies they select.
Several rules for one host in one namespace merge: subsets are appended (first name wins) and the
oldest rule's top-level traffic policy is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mainsail.config.istio.destination_rule import DestinationRule, Subset, TrafficPolicy
from mainsail.registry.model import labels_match
from mainsail.snapshot.hosts import host_matches, specificity
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import exported_to

_POLICY_BLOCKS = ("load_balancer", "connection_pool", "outlier_detection", "tls")


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedRule:
    """The (merged) DestinationRule in force for one host."""

    host: str
    traffic_policy: TrafficPolicy | None
    subsets: tuple[Subset, ...]
    sources: tuple[DestinationRule, ...]

    def subset(self, name: str) -> Subset | None:
        return next((s for s in self.subsets if s.name == name), None)


def destination_rule_for(
    snapshot: MeshSnapshot,
    proxy_namespace: str,
    hostname: str,
    service_namespace: str,
    proxy_labels: Mapping[str, str] | None = None,
) -> AppliedRule | None:
    """The rule for ``hostname`` as seen by a proxy of ``proxy_namespace`` with ``proxy_labels``.

    A rule with ``workloadSelector`` applies only to the proxies it selects in its own namespace
    and is never exported; in the proxy's namespace it wins over the rules without a selector
    (istiod's ``SidecarScope.DestinationRule``). As in istiod, when the proxy's namespace has
    rules for the host but none applies to this proxy, no other namespace is consulted.
    """
    labels = proxy_labels or {}
    for namespace in dict.fromkeys(
        (proxy_namespace, service_namespace, snapshot.mesh.root_namespace)
    ):
        local = namespace == proxy_namespace

        def usable(rule: DestinationRule, local: bool = local, namespace: str = namespace) -> bool:
            return (local or rule.spec.workload_selector is None) and (
                local
                or exported_to(frozenset(rule.spec.export_to or ("*",)), namespace, proxy_namespace)
            )

        # Exact hosts are more specific than any wildcard, and all equally so.
        chosen = [r for r in snapshot.rules_by_host.get((namespace, hostname), ()) if usable(r)]
        if not chosen:
            candidates = [
                (host, rule)
                for host, rule in snapshot.wildcard_rules.get(namespace, ())
                if usable(rule) and host_matches(host, hostname)
            ]
            if not candidates:
                continue
            best = min(specificity(host) for host, _ in candidates)
            chosen = [rule for host, rule in candidates if specificity(host) == best]
        selected = [r for r in chosen if _selects(r, labels)]
        if selected:
            first = selected[0].spec.workload_selector
            assert first is not None
            return _merge(
                hostname,
                tuple(r for r in selected if r.spec.workload_selector == first),
            )
        plain = tuple(r for r in chosen if r.spec.workload_selector is None)
        return _merge(hostname, plain) if plain else None
    return None


def _selects(rule: DestinationRule, labels: Mapping[str, str]) -> bool:
    selector = rule.spec.workload_selector
    return selector is not None and labels_match(selector.match_labels, labels)


def selecting_rules(
    snapshot: MeshSnapshot, proxy_namespace: str, proxy_labels: Mapping[str, str]
) -> tuple[str, ...]:
    """Names of the rules with a ``workloadSelector`` that select this proxy (a cache key part:
    proxies differing in them see different rules)."""
    return tuple(
        r.name
        for r in snapshot.selector_rules.get(proxy_namespace, ())
        if _selects(r, proxy_labels)
    )


def _merge(hostname: str, rules: tuple[DestinationRule, ...]) -> AppliedRule:
    subsets: dict[str, Subset] = {}
    policy: TrafficPolicy | None = None
    for rule in rules:
        for subset in rule.spec.subsets:
            subsets.setdefault(subset.name, subset)
        if policy is None:
            policy = rule.spec.traffic_policy
    return AppliedRule(
        host=hostname, traffic_policy=policy, subsets=tuple(subsets.values()), sources=rules
    )


def policy_for(rule: AppliedRule | None, port: int, subset: str = "") -> dict[str, Any]:
    """The effective policy blocks for a cluster: top level → port level → subset → its port level.

    A subset block replaces the whole block of the same name. A matching port-level entry
    replaces *all* blocks, absent ones falling back to defaults (istiod's
    ``MergeTrafficPolicy``; the API docs: port-level settings do not inherit destination-level
    ones). Returns block name → model (absent blocks left out).
    """
    if rule is None:
        return {}
    effective: dict[str, Any] = {}
    layers: list[TrafficPolicy | None] = [rule.traffic_policy]
    chosen = rule.subset(subset) if subset else None
    if chosen is not None:
        layers.append(chosen.traffic_policy)
    for layer in layers:
        if layer is None:
            continue
        _apply(effective, layer)
        for level in layer.port_level_settings:
            if level.port is not None and level.port.number == port:
                effective.clear()
                _apply(effective, level)
                break
    return effective


def _apply(effective: dict[str, Any], block_owner: Any) -> None:
    for block in _POLICY_BLOCKS:
        value = getattr(block_owner, block, None)
        if value is not None:
            effective[block] = value
