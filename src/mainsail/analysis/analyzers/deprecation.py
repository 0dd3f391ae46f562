"""deprecation.DeprecationAnalyzer: deprecated fields istioctl points out (IST0002).

istioctl's hand-made list: a VirtualService fault delay with the integer ``percent`` (use
``percentage``), and a Sidecar ``outboundTrafficPolicy.egressProxy``, which istioctl calls
ignored (istiod does route unknown hosts to it under ALLOW_ANY, and so does Mainsail; the message
is istioctl's, kept for parity). Deprecated CRD kinds are rejected when parsed, so never reach
analysis.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import DEPRECATED, Message
from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.istio.virtual_service import VirtualService


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        for index, http in enumerate(vs.spec.http):
            delay = http.fault.delay if http.fault is not None else None
            if delay is not None and delay.percent is not None and delay.percent > 0:
                yield ctx.message(
                    DEPRECATED,
                    "HTTPRoute.fault.delay.percent is deprecated; use "
                    "HTTPRoute.fault.delay.percentage",
                    resource=vs,
                    path=f"spec.http[{index}].fault.delay.percent",
                )
    for sidecar in ctx.of_kind(Sidecar):
        policy = sidecar.spec.outbound_traffic_policy
        if policy is not None and policy.egress_proxy is not None:
            yield ctx.message(
                DEPRECATED,
                "OutboundTrafficPolicy.EgressProxy ignored",
                resource=sidecar,
                path="spec.outboundTrafficPolicy.egressProxy",
            )


ANALYZER = Analyzer(
    name="deprecation.DeprecationAnalyzer",
    description="Checks for deprecated Istio types and fields",
    run=_analyze,
)
