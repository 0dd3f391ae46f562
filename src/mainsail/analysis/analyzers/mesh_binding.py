"""virtualservice.MeshBindingAnalyzer: a VirtualService for mesh services that left out ``mesh``.

Listing gateways replaces the implicit ``mesh``: the routes then apply only at those gateways,
and sidecars calling the same hosts keep the default route (reference §3.6). That is often
intended for an edge-only VirtualService, so it is reported as Info, and only for hosts that
name a service exactly (a ``*`` ingress host is the usual edge pattern).
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import VIRTUAL_SERVICE_NOT_APPLIED_TO_SIDECARS, Message, go_list
from mainsail.config.istio.virtual_service import VirtualService


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        gateways = vs.spec.gateways
        if not gateways or "mesh" in gateways:
            continue
        services = [
            h
            for h in vs.spec.hosts
            if not h.startswith("*") and ctx.fqdn(h, vs.namespace) in ctx.snapshot.services
        ]
        if services:
            yield ctx.message(
                VIRTUAL_SERVICE_NOT_APPLIED_TO_SIDECARS,
                go_list(gateways),
                ", ".join(services),
                resource=vs,
                path="spec.gateways",
            )


ANALYZER = Analyzer(
    name="virtualservice.MeshBindingAnalyzer",
    description="Checks for virtual services of mesh services that do not apply to sidecars",
    run=_analyze,
)
