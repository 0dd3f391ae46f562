"""service.PortNameAnalyzer: a Service port whose protocol Istio cannot tell from its name.

Istio reads a port's protocol from ``appProtocol``, else from the name's prefix (``http-``,
``grpc``, ``tcp``, …; reference §1.5). Anything else is sniffed, which costs a detection delay
and loses HTTP features on server-first protocols. Istio's own Services are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION, Message
from mainsail.config.kube.service import Service
from mainsail.registry.protocol import Protocol, protocol_of_kube_port

# Services of Istio's control plane and gateways (istioctl's ``IsIstioControlPlane``).
_ISTIO_COMPONENTS = frozenset({"pilot", "istiod", "ingressgateway", "egressgateway"})


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for service in ctx.of_kind(Service):
        if service.metadata.labels.get("istio") in _ISTIO_COMPONENTS:
            continue
        if service.spec.type == "ExternalName":
            continue
        for index, port in enumerate(service.spec.ports):
            protocol = protocol_of_kube_port(
                name=port.name, port=port.port, transport=port.protocol,
                app_protocol=port.app_protocol,
            )  # fmt: skip
            if protocol is not Protocol.UNSUPPORTED:
                continue
            target = port.target_port if port.target_port is not None else 0
            yield ctx.message(
                PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                port.name or "",
                port.port,
                target,
                resource=service,
                path=f"spec.ports[{index}]",
            )


ANALYZER = Analyzer(
    name="service.PortNameAnalyzer",
    description="Checks the port names associated with each service",
    run=_analyze,
)
