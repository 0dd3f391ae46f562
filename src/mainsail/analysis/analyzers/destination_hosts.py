"""virtualservice.DestinationHostAnalyzer: every route and mirror goes to a known host and port.

A destination host resolves like Istio's (short names against the VirtualService's namespace)
and must name a service visible from that namespace: a Kubernetes Service or a ServiceEntry host,
exact or covered by a wildcard entry. A destination port must be one of the service's ports.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.destinations import route_destinations
from mainsail.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, quoted
from mainsail.config.istio.virtual_service import VirtualService


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        for found in route_destinations(vs):
            host = found.destination.host
            services = ctx.find_services(host, vs.namespace)
            if not services:
                what = "mirror host" if found.mirror else "host"
                yield ctx.message(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    what,
                    quoted(host),
                    resource=vs,
                    path=f"{found.path}.host",
                )
                continue
            port = found.destination.port
            if port is None or port.number is None:
                continue
            if not any(s.port(port.number) for s in services):
                yield ctx.message(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    "host:port",
                    quoted(f"{host}:{port.number}"),
                    resource=vs,
                    path=f"{found.path}.port.number",
                )


ANALYZER = Analyzer(
    name="virtualservice.DestinationHostAnalyzer",
    description="Checks the destination hosts associated with each virtual service",
    run=_analyze,
)
