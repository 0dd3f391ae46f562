"""Which caller may receive which identity.

The identity registry answers what a caller may hold; the authorizer checks a requested
identity against it and the deny list. Local mode: a pod's service account is its only
identity, as istiod allows a Kubernetes caller only its own SPIFFE ID (impersonation by
node agents, ``ImpersonatedIdentity``, is not supported).
"""

from __future__ import annotations

from typing import Protocol

from mainsail.ca.authn import CallerIdentity
from mainsail.ca.errors import PermissionDenied
from mainsail.ca.identity import SpiffeId


class IdentityRegistry(Protocol):
    def identities_of(self, caller: CallerIdentity) -> frozenset[SpiffeId]: ...


class DenyList(Protocol):
    def is_revoked(self, workload: str) -> bool: ...


class ServiceAccountIdentities:
    """A caller holds exactly the SPIFFE ID of its service account in the mesh's trust domain."""

    def __init__(self, trust_domain: str) -> None:
        self._trust_domain = trust_domain

    def identities_of(self, caller: CallerIdentity) -> frozenset[SpiffeId]:
        return frozenset({caller.spiffe_id(self._trust_domain)})


class Authorizer:
    def __init__(self, registry: IdentityRegistry, deny_list: DenyList) -> None:
        self._registry = registry
        self._deny_list = deny_list

    def authorize(self, caller: CallerIdentity, requested: SpiffeId) -> None:
        """Return if ``caller`` may receive ``requested``; else ``PermissionDenied`` says why."""
        allowed = self._registry.identities_of(caller)
        if requested not in allowed:
            mine = ", ".join(sorted(str(i) for i in allowed)) or "none"
            raise PermissionDenied(f"{caller} may not receive {requested}: its identity is {mine}")
        if self._deny_list.is_revoked(requested.workload):
            raise PermissionDenied(
                f"{requested} is revoked (mainsail ca revoke {requested.workload}); "
                f"{caller} gets no new certificate"
            )
