"""SPIFFE identities of workloads: ``spiffe://<trust-domain>/ns/<namespace>/sa/<account>``
(Istio's ``pkg/spiffe``). The string form comes from ``mainsail.naming``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mainsail.naming import build_spiffe_id

# Istio's trust domains and Kubernetes names are DNS-ish; anything else in a path segment would
# make the URI ambiguous, so it is not an identity we issue.
_SPIFFE_RE = re.compile(r"^spiffe://([A-Za-z0-9._-]+)/ns/([A-Za-z0-9._-]+)/sa/([A-Za-z0-9._-]+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service_account: str

    def __str__(self) -> str:
        return build_spiffe_id(self.trust_domain, self.namespace, self.service_account)

    @property
    def workload(self) -> str:
        """``<namespace>/<service account>``, how the CLI and the deny list name it."""
        return f"{self.namespace}/{self.service_account}"


def parse_spiffe_id(uri: str) -> SpiffeId | None:
    """The identity named by ``uri``, or None when it is not an Istio workload SPIFFE ID."""
    match = _SPIFFE_RE.match(uri)
    if match is None:
        return None
    return SpiffeId(
        trust_domain=match.group(1), namespace=match.group(2), service_account=match.group(3)
    )


def parse_workload(text: str) -> tuple[str, str]:
    """``<namespace>/<service account>`` -> its two parts; ValueError says what is wrong."""
    namespace, sep, account = text.partition("/")
    if not sep or not namespace or not account or "/" in account:
        raise ValueError(f"{text!r} is not <namespace>/<service-account>")
    return namespace, account
