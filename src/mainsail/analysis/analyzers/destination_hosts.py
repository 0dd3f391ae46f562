"""virtualservice.DestinationHostAnalyzer: every route and mirror goes to a known host and port.

A destination host resolves like Istio's (short names against the VirtualService's namespace)
and must name a service visible from that namespace: a Kubernetes Service or a ServiceEntry host,
exact or covered by a wildcard entry (IST0101). A destination port must be one of the service's
ports (IST0101 ``host:port``); without a port, a service with several ports is ambiguous (IST0112).

Also Istio's ``analyzeSubset`` (IST0140): in a VirtualService bound to any gateway, an HTTP route
without a subset to a host that another VirtualService (or this one) routes to by subset — where
that host is also one of that VirtualService's hosts, compared as written — warns that the
subset routing does not apply to the gateway's requests.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.destinations import route_destinations
from mainsail.analysis.messages import (
    INGRESS_ROUTE_RULES_NOT_AFFECTED,
    REFERENCED_RESOURCE_NOT_FOUND,
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
    Message,
    go_list,
    quoted,
)
from mainsail.config.istio.virtual_service import VirtualService


def _hosts_and_ports(ctx: AnalysisContext, vs: VirtualService) -> Iterator[Message]:
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
            # Istio checks the one service the host names; a wildcard's many are not checked.
            if len(services) == 1 and len(services[0].ports) > 1:
                yield ctx.message(
                    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
                    quoted(host),
                    go_list(p.port for p in services[0].ports),
                    resource=vs,
                    path=f"{found.path}.host",
                )
            continue
        if not any(s.port(port.number) for s in services):
            yield ctx.message(
                REFERENCED_RESOURCE_NOT_FOUND,
                "host:port",
                quoted(f"{host}:{port.number}"),
                resource=vs,
                path=f"{found.path}.port.number",
            )


def _subset_hosts(vs: VirtualService) -> list[str]:
    """Istio's ``initVirtualServiceDestinations``: subset destinations to one of ``vs``'s hosts
    (once per matching host, as Istio appends them)."""
    return [
        weighted.destination.host
        for http in vs.spec.http
        for weighted in http.route
        if weighted.destination.subset
        for host in vs.spec.hosts
        if weighted.destination.host == host
    ]


def _ingress_subsets(
    ctx: AnalysisContext, vs: VirtualService, all_vs: tuple[VirtualService, ...]
) -> Iterator[Message]:
    if not vs.spec.gateways:
        return
    with_subsets = [(other, _subset_hosts(other)) for other in all_vs]
    for i, http in enumerate(vs.spec.http):
        for j, weighted in enumerate(http.route):
            if weighted.destination.subset:
                continue
            for other, hosts in with_subsets:
                for host in hosts:
                    if host == weighted.destination.host:
                        yield ctx.message(
                            INGRESS_ROUTE_RULES_NOT_AFFECTED,
                            f"{other.namespace}/{other.name}",
                            f"{vs.namespace}/{vs.name}",
                            resource=vs,
                            path=f"spec.http[{i}].route[{j}].destination.host",
                        )


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    all_vs = ctx.of_kind(VirtualService)
    for vs in all_vs:
        yield from _hosts_and_ports(ctx, vs)
        yield from _ingress_subsets(ctx, vs, all_vs)


ANALYZER = Analyzer(
    name="virtualservice.DestinationHostAnalyzer",
    description="Checks the destination hosts associated with each virtual service",
    run=_analyze,
)
