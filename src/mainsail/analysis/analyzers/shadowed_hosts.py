"""virtualservice.ShadowedHostAnalyzer: a wildcard host that a more specific host takes over.

Envoy picks a virtual host by exact domain first, then the longest wildcard, and on sidecars only
the most specific VirtualService is bound to a service (reference §3.3). So for the hosts another
VirtualService names more specifically, a wildcard VirtualService's routes never run there.
Usually intended (a default plus overrides), hence Info.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.bindings import bound_to, route_host
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import SHADOWED_VIRTUAL_SERVICE_HOST, Message, quoted
from mainsail.config.istio.virtual_service import VirtualService


def covers(wildcard: str, host: str) -> bool:
    """Does ``wildcard`` (``*`` or ``*.suffix``) match strictly more than ``host`` does?"""
    if wildcard == host or not wildcard.startswith("*"):
        return False
    if wildcard == "*":
        return True
    return host.endswith(wildcard[1:]) and len(host) > len(wildcard)


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    by_target: defaultdict[str, list[tuple[VirtualService, str, str]]] = defaultdict(list)
    for vs in ctx.of_kind(VirtualService):
        for target in bound_to(vs):
            for written in vs.spec.hosts:
                host = route_host(vs, written, target, ctx.domain)
                by_target[target].append((vs, written, host))
    for target, hosts in by_target.items():
        for vs, written, wildcard in hosts:
            for other, other_written, host in hosts:
                if other.key == vs.key or not covers(wildcard, host):
                    continue
                yield ctx.message(
                    SHADOWED_VIRTUAL_SERVICE_HOST,
                    quoted(written),
                    quoted(host),
                    target,
                    f"{other.namespace}/{other.name}",
                    quoted(other_written),
                    resource=vs,
                    path="spec.hosts",
                )


ANALYZER = Analyzer(
    name="virtualservice.ShadowedHostAnalyzer",
    description="Checks for wildcard virtual service hosts taken over by more specific ones",
    run=_analyze,
)
