"""gateway.ConflictingGatewayAnalyzer: two Gateways on the same workloads, port and host (IST0145).

Istio's semantics (``conflictinggateway.go``): Gateways are grouped by their selector's string
form (``k=v`` sorted, comma-joined) and server port number; a server conflicts with another
Gateway of its group when one of its hosts intersects (wildcards included) one of that Gateway's
hosts on that port. As in Istio, a Gateway with several servers on one port is compared by its
last such server's hosts, a Gateway is named once per intersecting host, and ``ns/`` host prefixes
are compared as written. Istio lists the other Gateways in map order; here they are sorted.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import CONFLICTING_GATEWAYS, Message, label_selector
from mainsail.config.istio.gateway import Gateway
from mainsail.snapshot.hosts import hosts_intersect

_GroupKey = tuple[str, int]


def _groups(gateways: tuple[Gateway, ...]) -> dict[_GroupKey, dict[str, tuple[str, ...]]]:
    groups: dict[_GroupKey, dict[str, tuple[str, ...]]] = {}
    for gw in gateways:
        selector = label_selector(gw.spec.selector)
        for server in gw.spec.servers:
            # Later servers on the same port replace earlier ones, as Istio's map assignment does.
            groups.setdefault((selector, server.port.number), {})[_full_name(gw)] = server.hosts
    return groups


def _full_name(gw: Gateway) -> str:
    return f"{gw.namespace}/{gw.name}"


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    gateways = ctx.of_kind(Gateway)
    groups = _groups(gateways)
    for gw in gateways:
        selector = label_selector(gw.spec.selector)
        for index, server in enumerate(gw.spec.servers):
            others = groups.get((selector, server.port.number), {})
            conflicting = [
                name
                for name, hosts in sorted(others.items())
                if name != _full_name(gw)
                for host in server.hosts
                if any(hosts_intersect(host, other) for other in hosts)
            ]
            if conflicting:
                yield ctx.message(
                    CONFLICTING_GATEWAYS,
                    ",".join(conflicting),
                    selector,
                    server.port.number,
                    ",".join(server.hosts),
                    resource=gw,
                    path=f"spec.servers[{index}]",
                )


ANALYZER = Analyzer(
    name="gateway.ConflictingGatewayAnalyzer",
    description="Checks a gateway's selector, port number and hosts",
    run=_analyze,
)
