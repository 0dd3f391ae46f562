"""sidecar.LocalPlatformAnalyzer (Mainsail's own, MSA0004): Sidecar fields Istio honours that the
local platform accepts but cannot apply, so a user learns why they change nothing.

The local platform captures nothing (``INTERCEPTION_MODE`` NONE, docs/local-platform.md): every
listener binds the pod address and outbound traffic enters through the one HTTP proxy and the
``<SVC>_SERVICE_*`` listeners. So ``captureMode`` and ``bind`` of ingress and egress listeners,
and ``unix://`` default endpoints, have no effect; everything else of the Sidecar is applied.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import SIDECAR_FIELD_NOT_APPLIED_LOCALLY, Message
from mainsail.config.istio.sidecar import IstioEgressListener, IstioIngressListener, Sidecar

_NO_CAPTURE = "nothing is captured, every listener binds the pod address"
_NO_UNIX = "the app is reached on the pod address, not on a Unix socket"


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for sidecar in ctx.of_kind(Sidecar):
        listeners: list[tuple[str, int, IstioIngressListener | IstioEgressListener]] = [
            ("ingress", i, entry) for i, entry in enumerate(sidecar.spec.ingress)
        ]
        listeners += [("egress", i, entry) for i, entry in enumerate(sidecar.spec.egress)]
        for kind, index, entry in listeners:
            path = f"spec.{kind}[{index}]"
            if entry.capture_mode is not None and entry.capture_mode != "NONE":
                yield ctx.message(
                    SIDECAR_FIELD_NOT_APPLIED_LOCALLY,
                    f"{path}.captureMode",
                    entry.capture_mode,
                    _NO_CAPTURE,
                    resource=sidecar,
                    path=f"{path}.captureMode",
                )
            if entry.bind:
                yield ctx.message(
                    SIDECAR_FIELD_NOT_APPLIED_LOCALLY,
                    f"{path}.bind",
                    entry.bind,
                    _NO_CAPTURE,
                    resource=sidecar,
                    path=f"{path}.bind",
                )
        for index, ingress in enumerate(sidecar.spec.ingress):
            endpoint = ingress.default_endpoint or ""
            if endpoint.startswith("unix://"):
                path = f"spec.ingress[{index}].defaultEndpoint"
                yield ctx.message(
                    SIDECAR_FIELD_NOT_APPLIED_LOCALLY,
                    path,
                    endpoint,
                    _NO_UNIX,
                    resource=sidecar,
                    path=path,
                )


ANALYZER = Analyzer(
    name="sidecar.LocalPlatformAnalyzer",
    description="Reports Sidecar fields the local platform accepts but cannot apply",
    run=_analyze,
)
