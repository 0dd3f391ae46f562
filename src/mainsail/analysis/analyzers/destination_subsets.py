"""virtualservice.DestinationRuleAnalyzer: every subset a route or mirror names is defined.

The subset must be defined by a DestinationRule for the destination's host (any namespace, as
istioctl checks; rules for one host merge their subsets). Without it Envoy has no such cluster
and the route answers 503 NC.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.destinations import route_destinations
from mainsail.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, quoted
from mainsail.config.istio.destination_rule import DestinationRule
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.snapshot.hosts import host_matches


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    rules = [(ctx.fqdn(r.spec.host, r.namespace), r) for r in ctx.of_kind(DestinationRule)]
    for vs in ctx.of_kind(VirtualService):
        for found in route_destinations(vs):
            subset = found.destination.subset
            if not subset:
                continue
            fqdn = ctx.fqdn(found.destination.host, vs.namespace)
            defined = {
                s.name
                for pattern, rule in rules
                if host_matches(pattern, fqdn)
                for s in rule.spec.subsets
            }
            if subset in defined:
                continue
            what = "mirror+subset" if found.mirror else "host+subset"
            yield ctx.message(
                REFERENCED_RESOURCE_NOT_FOUND,
                f"{what} in destinationrule",
                quoted(f"{found.destination.host}+{subset}"),
                resource=vs,
                path=f"{found.path}.subset",
            )


ANALYZER = Analyzer(
    name="virtualservice.DestinationRuleAnalyzer",
    description="Checks the destination rules associated with each virtual service",
    run=_analyze,
)
