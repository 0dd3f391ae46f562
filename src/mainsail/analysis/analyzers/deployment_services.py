"""deployment.MultiServiceAnalyzer: Services of one Deployment that disagree on a port.

Istio's semantics: for the Services of a Deployment's namespace whose non-empty selector matches
its pod template, one port number with two Kubernetes protocols (TCP/UDP/SCTP) is IST0116; one
target port (the port when unset) reached from two port numbers is IST0137. Services are named
``namespace/name`` and sorted, ports sorted. On the local platform every Deployment is in the
mesh (Istio checks injection first).
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
    DEPLOYMENT_CONFLICTING_PORTS,
    Message,
    go_list,
    quoted,
)
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Deployment
from mainsail.registry.model import labels_match


def _services(ctx: AnalysisContext, deployment: Deployment) -> list[Service]:
    labels = deployment.spec.template.metadata.labels
    return [
        s
        for s in ctx.of_kind(Service)
        if s.namespace == deployment.namespace
        and s.spec.selector
        and labels_match(s.spec.selector, labels)
    ]


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for deployment in ctx.of_kind(Deployment):
        services = _services(ctx, deployment)
        protocols: dict[int, dict[str, list[str]]] = {}
        targets: dict[str, dict[int, str]] = {}
        for service in services:
            full_name = f"{service.namespace}/{service.name}"
            for port in service.spec.ports:
                protocols.setdefault(port.port, {}).setdefault(port.protocol, []).append(full_name)
                target = str(port.target_port) if port.target_port not in (None, 0, "") else ""
                targets.setdefault(target or str(port.port), {})[port.port] = full_name
        for number, by_protocol in sorted(protocols.items()):
            if len(by_protocol) > 1:
                names = sorted(n for group in by_protocol.values() for n in group)
                yield ctx.message(
                    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
                    deployment.name,
                    number,
                    go_list(names),
                    resource=deployment,
                    path="metadata.name",
                )
        for target, by_port in sorted(targets.items()):
            if len(by_port) > 1:
                yield ctx.message(
                    DEPLOYMENT_CONFLICTING_PORTS,
                    deployment.name,
                    go_list(sorted(by_port.values())),
                    quoted(target),
                    go_list(sorted(by_port)),
                    resource=deployment,
                    path="metadata.name",
                )


ANALYZER = Analyzer(
    name="deployment.MultiServiceAnalyzer",
    description="Checks association between services and pods",
    run=_analyze,
)
