"""destinationrule.SubsetSelectPodAnalyzer: a DestinationRule's host is a service, and each of its
subsets selects at least one workload of that service.

A subset selects the service's workloads whose labels include the subset's labels (reference
§3.4); one that selects none is a cluster without endpoints: 503 UH. Workloads are pods,
Deployments' pod templates and WorkloadEntries. Services whose workloads cannot be known (a
Service without selector) are not checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    Message,
)
from mainsail.config.istio.destination_rule import DestinationRule
from mainsail.registry.model import labels_match


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for rule in ctx.of_kind(DestinationRule):
        services = ctx.find_services(rule.spec.host, rule.namespace)
        if not services:
            yield ctx.message(
                UNKNOWN_DESTINATION_RULE_HOST, rule.spec.host, resource=rule, path="spec.host"
            )
            continue
        backing = [ctx.backing_workloads(s) for s in services]
        if any(b is None for b in backing):
            continue
        workloads = [w for found in backing if found is not None for w in found]
        for index, subset in enumerate(rule.spec.subsets):
            if not any(labels_match(subset.labels, w.labels) for w in workloads):
                yield ctx.message(
                    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
                    subset.name,
                    resource=rule,
                    path=f"spec.subsets[{index}]",
                )


ANALYZER = Analyzer(
    name="destinationrule.SubsetSelectPodAnalyzer",
    description="Checks if pods are selected by subsets in destination rules.",
    run=_analyze,
)
