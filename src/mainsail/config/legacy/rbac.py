"""rbac.istio.io/v1alpha1 RbacConfig, ClusterRbacConfig, ServiceRole and ServiceRoleBinding
(istio/api 1.5 ``rbac/v1alpha1/rbac.proto``; CRD schema from Istio 1.4 ``crd-10.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from mainsail.config.base import Resource
from mainsail.config.legacy.base import LegacyModel
from mainsail.config.wire_types import Int32

RBAC = "rbac.istio.io"
RbacMode = Literal["OFF", "ON", "ON_WITH_INCLUSION", "ON_WITH_EXCLUSION"]
EnforcementMode = Literal["ENFORCED", "PERMISSIVE"]


class Constraint(LegacyModel):
    key: str | None = None
    values: tuple[str, ...] = ()


class AccessRule(LegacyModel):
    services: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    ports: tuple[Int32, ...] = ()
    not_ports: tuple[Int32, ...] = ()
    constraints: tuple[Constraint, ...] = ()


class ServiceRoleSpec(LegacyModel):
    rules: tuple[AccessRule, ...] = ()


class Subject(LegacyModel):
    user: str | None = None
    names: tuple[str, ...] = ()
    not_names: tuple[str, ...] = ()
    group: str | None = None  # deprecated: groups
    groups: tuple[str, ...] = ()
    not_groups: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    not_ips: tuple[str, ...] = ()
    properties: Mapping[str, str] = Field(default_factory=dict)


class RoleRef(LegacyModel):
    kind: str | None = None
    name: str | None = None


class ServiceRoleBindingSpec(LegacyModel):
    subjects: tuple[Subject, ...] = ()
    role_ref: RoleRef | None = Field(default=None, alias="roleRef")
    mode: EnforcementMode | None = None
    actions: tuple[AccessRule, ...] = ()  # hidden in the docs; inline rules instead of a role
    role: str | None = None  # "/name" shorthand for roleRef (hidden in the docs)


class RbacTarget(LegacyModel):
    services: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


class RbacConfigSpec(LegacyModel):
    # Absent is the proto default OFF.
    mode: RbacMode | None = None
    inclusion: RbacTarget | None = None
    exclusion: RbacTarget | None = None
    enforcement_mode: EnforcementMode | None = None

    @property
    def effective_mode(self) -> RbacMode:
        return self.mode or "OFF"


class ServiceRole(Resource):
    api_version: Literal["rbac.istio.io/v1alpha1"] = "rbac.istio.io/v1alpha1"
    kind: Literal["ServiceRole"] = "ServiceRole"
    spec: ServiceRoleSpec = Field(default_factory=ServiceRoleSpec)
    status: Mapping[str, object] | None = None


class ServiceRoleBinding(Resource):
    api_version: Literal["rbac.istio.io/v1alpha1"] = "rbac.istio.io/v1alpha1"
    kind: Literal["ServiceRoleBinding"] = "ServiceRoleBinding"
    spec: ServiceRoleBindingSpec = Field(default_factory=ServiceRoleBindingSpec)
    status: Mapping[str, object] | None = None


class RbacConfig(Resource):
    """Deprecated in 1.1 for ClusterRbacConfig; Istio read the one named ``default``."""

    api_version: Literal["rbac.istio.io/v1alpha1"] = "rbac.istio.io/v1alpha1"
    kind: Literal["RbacConfig"] = "RbacConfig"
    spec: RbacConfigSpec = Field(default_factory=RbacConfigSpec)
    status: Mapping[str, object] | None = None


class ClusterRbacConfig(Resource):
    """The cluster-scoped mesh RBAC switch (Istio read the one named ``default``)."""

    api_version: Literal["rbac.istio.io/v1alpha1"] = "rbac.istio.io/v1alpha1"
    kind: Literal["ClusterRbacConfig"] = "ClusterRbacConfig"
    spec: RbacConfigSpec = Field(default_factory=RbacConfigSpec)
    status: Mapping[str, object] | None = None
