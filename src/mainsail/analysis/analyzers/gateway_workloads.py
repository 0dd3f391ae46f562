"""gateway.IngressGatewayPortAnalyzer: a Gateway selects a gateway workload, on a port its
Service exposes.

Gateways select workloads in any namespace by label (reference §3.6); one selecting nothing is
configuration no proxy receives. Each server port should be a (target) port of a Service in front
of the selected workloads, or clients cannot reach it through that Service.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    REFERENCED_RESOURCE_NOT_FOUND,
    Message,
    quoted,
)
from mainsail.config.istio.gateway import Gateway
from mainsail.config.kube.service import Service
from mainsail.registry.model import labels_match


def _exposed_ports(ctx: AnalysisContext, gateway: Gateway) -> set[int]:
    """Service ports and target ports of every Service in front of the selected workloads."""
    exposed: set[int] = set()
    services = ctx.of_kind(Service)
    for workload in ctx.selected_workloads(gateway.spec.selector):
        for service in services:
            selector = service.spec.selector
            if (
                service.namespace != workload.namespace
                or not selector
                or not labels_match(selector, workload.labels)
            ):
                continue
            for port in service.spec.ports:
                if port.protocol != "TCP":
                    continue
                exposed.add(port.port)
                target = port.target_port
                if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
                    exposed.add(int(target))
    return exposed


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for gateway in ctx.of_kind(Gateway):
        selector = ",".join(f"{k}={v}" for k, v in sorted(gateway.spec.selector.items()))
        if not ctx.selected_workloads(gateway.spec.selector):
            yield ctx.message(
                REFERENCED_RESOURCE_NOT_FOUND,
                "selector",
                quoted(selector),
                resource=gateway,
                path="spec.selector",
            )
            continue
        exposed = _exposed_ports(ctx, gateway)
        for index, server in enumerate(gateway.spec.servers):
            if server.port.number not in exposed:
                yield ctx.message(
                    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    server.port.number,
                    selector,
                    resource=gateway,
                    path=f"spec.servers[{index}].port.number",
                )


ANALYZER = Analyzer(
    name="gateway.IngressGatewayPortAnalyzer",
    description="Checks a gateway's selector and its ports against the gateway's service ports",
    run=_analyze,
)
