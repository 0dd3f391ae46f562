"""Every legacy security document of a config set → the modern kinds, grouped by what each
replaces, because Istio 1.5 (the one release serving both) let the modern API win per concern and
per workload: PeerAuthentication over the alpha mTLS settings, RequestAuthentication over alpha
origins (the token-requiring DENY policies go with them), AuthorizationPolicy over RBAC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mainsail.config.base import Resource
from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.legacy.authentication import MeshPolicy, Policy
from mainsail.config.legacy.convert_authn import convert_authentication_policy
from mainsail.config.legacy.convert_rbac import convert_rbac
from mainsail.config.legacy.notes import ConversionNote, ServiceIndex, index_services
from mainsail.config.legacy.rbac import (
    ClusterRbacConfig,
    RbacConfig,
    ServiceRole,
    ServiceRoleBinding,
)

LEGACY_TYPES = (Policy, MeshPolicy, RbacConfig, ClusterRbacConfig, ServiceRole, ServiceRoleBinding)


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyConversion:
    peer_authentications: tuple[PeerAuthentication, ...] = ()
    request_authentications: tuple[RequestAuthentication, ...] = ()
    # DENY policies requiring a JWT (from origins without originIsOptional).
    jwt_authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    # From ClusterRbacConfig/ServiceRole/ServiceRoleBinding.
    rbac_authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    # Whether a (Cluster)RbacConfig turned Istio's RBAC on (else no ServiceRole was enforced).
    rbac_enabled: bool = False
    # The RBAC policies for what Istio 1.5 enforced (ON_WITH_INCLUSION: included scope only).
    rbac_enforced_policies: tuple[AuthorizationPolicy, ...] = ()
    notes: tuple[ConversionNote, ...] = ()

    @property
    def resources(self) -> tuple[Resource, ...]:
        """Everything converted, in a stable order (as ``mainsail convert`` prints it)."""
        return (
            *self.peer_authentications,
            *self.request_authentications,
            *self.jwt_authorization_policies,
            *self.rbac_authorization_policies,
        )

    @property
    def errors(self) -> tuple[ConversionNote, ...]:
        return tuple(n for n in self.notes if n.level == "error")


def is_legacy(resource: Resource) -> bool:
    return isinstance(resource, LEGACY_TYPES)


def convert_legacy(
    resources: Iterable[Resource],
    root_namespace: str,
    services: ServiceIndex | None = None,
) -> LegacyConversion:
    """Convert the legacy documents among ``resources``; Services are taken from ``resources``
    unless ``services`` is given."""
    items = list(resources)
    index = index_services(items) if services is None else services
    peers: list[PeerAuthentication] = []
    requests: list[RequestAuthentication] = []
    denials: list[AuthorizationPolicy] = []
    notes: list[ConversionNote] = []
    policies = [r for r in items if isinstance(r, Policy | MeshPolicy)]
    for policy in sorted(policies, key=lambda p: (p.kind, p.namespace, p.name)):
        result = convert_authentication_policy(policy, index, root_namespace)
        peers += result.peer_authentications
        requests += result.request_authentications
        denials += result.authorization_policies
        notes += result.notes
    rbac = convert_rbac([r for r in items if is_legacy(r)], index, root_namespace)
    return LegacyConversion(
        peer_authentications=tuple(peers),
        request_authentications=tuple(requests),
        jwt_authorization_policies=tuple(denials),
        rbac_authorization_policies=rbac.authorization_policies,
        rbac_enabled=rbac.enabled,
        rbac_enforced_policies=rbac.enforced,
        notes=(*notes, *rbac.notes),
    )
