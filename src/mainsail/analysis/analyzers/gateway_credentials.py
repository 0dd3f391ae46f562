"""gateway.SecretAnalyzer: a Gateway server's ``tls.credentialName``/``credentialNames`` name
Kubernetes Secrets that istiod serves the gateway over SDS as ``kubernetes://<name>``. The local
platform has no Secrets, so the gateway can never get one: istioctl's IST0101 "Referenced
credentialName not found", per name. Translation keeps istiod's SDS names (the chain stays without
a certificate and handshakes fail), so this is where the user learns it; ``serverCertificate``/
``privateKey`` files are the local platform's way. ``PASSTHROUGH``/``AUTO_PASSTHROUGH``/
``ISTIO_MUTUAL`` servers ignore the field, as istiod does.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, quoted
from mainsail.config.istio.gateway import Gateway

_IGNORING = ("PASSTHROUGH", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL")


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for gateway in ctx.of_kind(Gateway):
        for index, server in enumerate(gateway.spec.servers):
            tls = server.tls
            if tls is None or tls.mode in _IGNORING:
                continue
            path = f"spec.servers[{index}].tls"
            named = [(f"{path}.credentialName", tls.credential_name)] if tls.credential_name else []
            named += [
                (f"{path}.credentialNames[{i}]", name)
                for i, name in enumerate(tls.credential_names or ())
            ]
            for where, name in named:
                yield ctx.message(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    "credentialName",
                    quoted(name),
                    resource=gateway,
                    path=where,
                )


ANALYZER = Analyzer(
    name="gateway.SecretAnalyzer",
    description="Checks a gateway's referenced secrets for correctness",
    run=_analyze,
)
