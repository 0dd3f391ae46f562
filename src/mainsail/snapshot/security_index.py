"""The security kinds of a snapshot by namespace (built once in ``build_snapshot``), with the
book's legacy policies converted to the modern kinds beside them (``config.legacy.convert``).

Scope resolution for one workload reads these in ``snapshot.security``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from mainsail.config.base import Resource
from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.legacy.convert import convert_legacy, is_legacy
from mainsail.config.legacy.notes import ConversionNote

R = TypeVar("R", bound=Resource)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySet:
    """One generation of security policies by namespace, each oldest first (Istio's order:
    creation time, then name)."""

    peer_authentications: Mapping[str, tuple[PeerAuthentication, ...]] = field(
        default_factory=_empty
    )
    request_authentications: Mapping[str, tuple[RequestAuthentication, ...]] = field(
        default_factory=_empty
    )
    authorization_policies: Mapping[str, tuple[AuthorizationPolicy, ...]] = field(
        default_factory=_empty
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityIndex:
    modern: PolicySet = field(default_factory=PolicySet)
    # Converted from authentication.istio.io Policy/MeshPolicy; ``authorization_policies`` are
    # the DENY policies that make a JWT mandatory.
    legacy_authn: PolicySet = field(default_factory=PolicySet)
    # Converted from rbac.istio.io (empty unless a (Cluster)RbacConfig turned RBAC on).
    legacy_rbac: PolicySet = field(default_factory=PolicySet)
    legacy_notes: tuple[ConversionNote, ...] = ()


def _oldest_first(resource: Resource) -> tuple[float, str]:
    created = resource.metadata.creation_timestamp
    return (created.timestamp() if created else 0.0, resource.name)


def _by_namespace(resources: Iterable[R]) -> Mapping[str, tuple[R, ...]]:
    grouped: dict[str, list[R]] = {}
    for resource in resources:
        grouped.setdefault(resource.namespace, []).append(resource)
    return MappingProxyType(
        {ns: tuple(sorted(found, key=_oldest_first)) for ns, found in sorted(grouped.items())}
    )


def build_security_index(resources: Iterable[Resource], root_namespace: str) -> SecurityIndex:
    items = list(resources)
    modern = PolicySet(
        peer_authentications=_by_namespace(r for r in items if isinstance(r, PeerAuthentication)),
        request_authentications=_by_namespace(
            r for r in items if isinstance(r, RequestAuthentication)
        ),
        authorization_policies=_by_namespace(
            r for r in items if isinstance(r, AuthorizationPolicy)
        ),
    )
    if not any(is_legacy(r) for r in items):
        return SecurityIndex(modern=modern)
    legacy = convert_legacy(items, root_namespace)
    return SecurityIndex(
        modern=modern,
        legacy_authn=PolicySet(
            peer_authentications=_by_namespace(legacy.peer_authentications),
            request_authentications=_by_namespace(legacy.request_authentications),
            authorization_policies=_by_namespace(legacy.jwt_authorization_policies),
        ),
        legacy_rbac=PolicySet(
            authorization_policies=_by_namespace(
                legacy.rbac_enforced_policies if legacy.rbac_enabled else ()
            )
        ),
        legacy_notes=legacy.notes,
    )
