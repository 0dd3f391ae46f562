"""gateway.CertificateAnalyzer: one certificate on servers of several Gateways (IST0138).

Istio's semantics (Envoy issue 6767: HTTP/2 connection reuse across hosts answers 404): for each
Gateway, the other Gateways whose selector includes all of its selector (every Gateway when its
selector is empty; all namespaces, as ``SCOPE_GATEWAY_TO_NAMESPACE`` is off by default) are
compared server by server; two TLS servers with the same ``credentialName``, or both without one
and with the same ``serverCertificate`` and ``privateKey``, are reported once per server pair.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import GATEWAY_DUPLICATE_CERTIFICATE, Message, go_list
from mainsail.config.istio.gateway import Gateway, ServerTLSSettings


def same_certificate(a: ServerTLSSettings, b: ServerTLSSettings) -> bool:
    """Istio's ``haveSameCertificate``."""
    if a.credential_name and b.credential_name:
        return a.credential_name == b.credential_name
    if a.credential_name or b.credential_name:
        return False
    if not (a.server_certificate and a.server_certificate == b.server_certificate):
        return False
    return bool(a.private_key and b.private_key and a.private_key == b.private_key)


def _includes(selector: Mapping[str, str], other: Mapping[str, str]) -> bool:
    return all(other.get(key) == value for key, value in selector.items())


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    gateways = ctx.of_kind(Gateway)
    for gateway in gateways:
        name = f"{gateway.namespace}/{gateway.name}"
        for other in gateways:
            if other is gateway or not _includes(gateway.spec.selector, other.spec.selector):
                continue
            for server in gateway.spec.servers:
                for other_server in other.spec.servers:
                    if server.tls is None or other_server.tls is None:
                        continue
                    if same_certificate(server.tls, other_server.tls):
                        yield ctx.message(
                            GATEWAY_DUPLICATE_CERTIFICATE,
                            go_list([name, f"{other.namespace}/{other.name}"]),
                            resource=gateway,
                            path="metadata.name",
                        )


ANALYZER = Analyzer(
    name="gateway.CertificateAnalyzer",
    description="Checks a gateway certificate",
    run=_analyze,
)
