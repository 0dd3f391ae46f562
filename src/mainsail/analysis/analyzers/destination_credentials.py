"""A DestinationRule ``tls.credentialName`` (SIMPLE/MUTUAL) names a Kubernetes Secret of the
rule's namespace, which the control plane serves over ADS to the proxies the rule applies to
(``xds.credentials``; proxies read only their own namespace's Secrets). A name with no Secret there is
istioctl's IST0101 "Referenced credentialName not found" (its gateway ``SecretAnalyzer``
wording), for every ``tls`` block of the rule (top level, port level, subsets): the cluster
would stay warming (requests fail closed) waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, quoted
from mainsail.config.istio.destination_rule import (
    ClientTLSSettings,
    DestinationRule,
    TrafficPolicy,
)


def _tls_blocks(rule: DestinationRule) -> Iterator[tuple[str, ClientTLSSettings]]:
    policies: list[tuple[str, TrafficPolicy | None]] = [
        ("spec.trafficPolicy", rule.spec.traffic_policy)
    ]
    policies += [
        (f"spec.subsets[{i}].trafficPolicy", s.traffic_policy)
        for i, s in enumerate(rule.spec.subsets)
    ]
    for path, policy in policies:
        if policy is None:
            continue
        if policy.tls is not None:
            yield f"{path}.tls", policy.tls
        for index, level in enumerate(policy.port_level_settings):
            if level.tls is not None:
                yield f"{path}.portLevelSettings[{index}].tls", level.tls


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for rule in ctx.of_kind(DestinationRule):
        for path, tls in _tls_blocks(rule):
            if (
                tls.credential_name
                and tls.mode in ("SIMPLE", "MUTUAL")
                and (rule.namespace, tls.credential_name) not in ctx.snapshot.credentials
            ):
                yield ctx.message(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    "credentialName",
                    quoted(tls.credential_name),
                    resource=rule,
                    path=f"{path}.credentialName",
                )


ANALYZER = Analyzer(
    name="destinationrule.CredentialNameAnalyzer",
    description="Checks that the secrets DestinationRules name can be resolved.",
    run=_analyze,
)
