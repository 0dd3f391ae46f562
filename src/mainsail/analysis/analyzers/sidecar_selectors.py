"""sidecar.SelectorAnalyzer and sidecar.DefaultSelectorAnalyzer: which Sidecar a workload gets.

Istio's semantics: a Sidecar with a workload selector must select a workload of its namespace
(IST0101 ``selector``); a workload selected by several Sidecars gets an undefined one (IST0110 on
each, naming them); a namespace may have one Sidecar without a selector (IST0111 on each when it
has more). Offline, Deployments' pod templates and WorkloadEntries count as workloads.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    REFERENCED_RESOURCE_NOT_FOUND,
    Message,
    go_list,
    label_selector,
    quoted,
)
from mainsail.config.istio.sidecar import Sidecar


def _selectors(ctx: AnalysisContext) -> Iterator[Message]:
    by_workload: dict[tuple[str, str], list[Sidecar]] = {}
    for sidecar in ctx.of_kind(Sidecar):
        selector = sidecar.spec.workload_selector
        if selector is None or not selector.labels:
            continue
        selected = ctx.selected_workloads(selector.labels, sidecar.namespace)
        if not selected:
            yield ctx.message(
                REFERENCED_RESOURCE_NOT_FOUND,
                "selector",
                quoted(label_selector(selector.labels)),
                resource=sidecar,
                path="spec.workloadSelector.labels",
            )
        for selected_workload in selected:
            key = (selected_workload.namespace, selected_workload.name)
            by_workload.setdefault(key, []).append(sidecar)
    for (namespace, workload), sidecars in sorted(by_workload.items()):
        if len(sidecars) < 2:
            continue
        names = go_list(s.name for s in sidecars)
        for sidecar in sidecars:
            yield ctx.message(
                CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                names,
                quoted(namespace),
                quoted(workload),
                resource=sidecar,
                path="metadata.name",
            )


def _defaults(ctx: AnalysisContext) -> Iterator[Message]:
    by_namespace: dict[str, list[Sidecar]] = {}
    for sidecar in ctx.of_kind(Sidecar):
        selector = sidecar.spec.workload_selector
        if selector is None or not selector.labels:
            by_namespace.setdefault(sidecar.namespace, []).append(sidecar)
    for namespace, sidecars in sorted(by_namespace.items()):
        if len(sidecars) < 2:
            continue
        names = go_list(s.name for s in sidecars)
        for sidecar in sidecars:
            yield ctx.message(
                MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
                names,
                quoted(namespace),
                resource=sidecar,
                path="metadata.name",
            )


SELECTOR_ANALYZER = Analyzer(
    name="sidecar.SelectorAnalyzer",
    description="Validates that sidecars that define a workload selector match at least one pod, "
    "and that there aren't multiple sidecar resources that select overlapping pods",
    run=_selectors,
)
DEFAULT_SELECTOR_ANALYZER = Analyzer(
    name="sidecar.DefaultSelectorAnalyzer",
    description="Validates that there aren't multiple sidecar resources that have no selector",
    run=_defaults,
)
