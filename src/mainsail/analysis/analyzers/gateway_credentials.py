"""gateway.SecretAnalyzer: a Gateway server's ``tls.credentialName``/``credentialNames`` name
Kubernetes Secrets that istiod serves the gateway over ADS as ``kubernetes://<name>``, from the
gateway *pod's* namespace (istioctl's ``getGatewayNamespace`` takes the first pod the selector
picks; we check every selected pod's namespace, since each of those gateways needs the Secret,
and the Gateway's own namespace when no selected workload is known, so offline files without
pods are still checked). A name missing from one of them is istioctl's IST0101 "Referenced
credentialName not found", per name; ``<name>-cacert`` names its CA only, so its
Secret is enough. ``PASSTHROUGH``/``AUTO_PASSTHROUGH``/``ISTIO_MUTUAL`` servers ignore the
field, as istiod does.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, quoted
from mainsail.config.istio.gateway import Gateway

_IGNORING = ("PASSTHROUGH", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL")


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    credentials = ctx.snapshot.credentials
    for gateway in ctx.of_kind(Gateway):
        pods = ctx.selected_workloads(gateway.spec.selector or {})
        namespaces = sorted({p.namespace for p in pods}) or [gateway.namespace]
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
                if all((namespace, name) in credentials for namespace in namespaces):
                    continue
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
