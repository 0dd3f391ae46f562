"""destinationrule.CaCertificateAnalyzer: TLS origination that does not verify the server.

Istio's semantics: a DestinationRule whose ``trafficPolicy.tls`` (IST0128) or a port-level
``tls`` (IST0129, the port as Go's ``number:<n>``) is SIMPLE or MUTUAL without
``caCertificates`` is reported — unless it names a ``credentialName`` and the rule has a
``workloadSelector`` (newer istioctl: the credential then carries the CA). The rule is named
``namespace/name``.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    Message,
)
from mainsail.config.istio.destination_rule import ClientTLSSettings, DestinationRule


def _unverified(tls: ClientTLSSettings | None, rule: DestinationRule) -> str | None:
    """The mode when ``tls`` originates TLS without a CA to check the server against."""
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL") or tls.ca_certificates:
        return None
    if tls.credential_name and rule.spec.workload_selector is not None:
        return None
    return tls.mode


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for rule in ctx.of_kind(DestinationRule):
        policy = rule.spec.traffic_policy
        if policy is None:
            continue
        full_name = f"{rule.namespace}/{rule.name}"
        mode = _unverified(policy.tls, rule)
        if mode is not None:
            yield ctx.message(
                NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
                full_name,
                rule.namespace,
                mode,
                rule.spec.host,
                resource=rule,
                path="spec.trafficPolicy.tls",
            )
        for index, port_policy in enumerate(policy.port_level_settings):
            mode = _unverified(port_policy.tls, rule)
            if mode is None:
                continue
            number = port_policy.port.number if port_policy.port is not None else None
            yield ctx.message(
                NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                full_name,
                rule.namespace,
                mode,
                rule.spec.host,
                f"number:{number}" if number else "",
                resource=rule,
                path=f"spec.trafficPolicy.portLevelSettings[{index}].tls",
            )


ANALYZER = Analyzer(
    name="destinationrule.CaCertificateAnalyzer",
    description="Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL",
    run=_analyze,
)
