"""security.istio.io AuthorizationPolicy: access control on workloads
(istio/api security/v1beta1/authorization.proto). Structural checks only; Istio's semantic rules
(DENY/CUSTOM need rules, CUSTOM needs a provider, known ``when`` keys …) live in
``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import MatchLabelsSelector, PolicyTargetReference

Action = Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"]
ServiceAccountName = Annotated[str, Field(max_length=320)]

DRY_RUN_ANNOTATION = "istio.io/dry-run"
# Go's strconv.ParseBool, which istiod uses for the annotation.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class Source(WireModel):
    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    request_principals: tuple[str, ...] = ()
    not_request_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    service_accounts: tuple[ServiceAccountName, ...] = Field(default=(), max_length=16)
    not_service_accounts: tuple[ServiceAccountName, ...] = Field(default=(), max_length=16)
    ip_blocks: tuple[str, ...] = ()
    not_ip_blocks: tuple[str, ...] = ()
    remote_ip_blocks: tuple[str, ...] = ()
    not_remote_ip_blocks: tuple[str, ...] = ()
    trust_domains: tuple[str, ...] = ()
    not_trust_domains: tuple[str, ...] = ()


class From(WireModel):
    source: Source | None = None


class Operation(WireModel):
    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    # Strings on the wire (the proto's ``repeated string``); validation checks they are ports.
    ports: tuple[str, ...] = ()
    not_ports: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()


class To(WireModel):
    operation: Operation | None = None


class Condition(WireModel):
    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()


class Rule(WireModel):
    from_: tuple[From, ...] = Field(default=(), max_length=512, alias="from")
    to: tuple[To, ...] = ()
    when: tuple[Condition, ...] = ()


class ExtensionProvider(WireModel):
    name: str | None = None


class AuthorizationPolicySpec(WireModel):
    selector: MatchLabelsSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = Field(default=(), max_length=16)
    rules: tuple[Rule, ...] = Field(default=(), max_length=512)
    # Absent means ALLOW (the proto default).
    action: Action | None = None
    provider: ExtensionProvider | None = None

    @property
    def effective_action(self) -> Action:
        return self.action or "ALLOW"


class AuthorizationPolicy(Resource):
    api_version: Literal["security.istio.io/v1", "security.istio.io/v1beta1"] = (
        "security.istio.io/v1"
    )
    kind: Literal["AuthorizationPolicy"] = "AuthorizationPolicy"
    spec: AuthorizationPolicySpec = Field(default_factory=AuthorizationPolicySpec)
    status: Mapping[str, object] | None = None

    @property
    def dry_run(self) -> bool:
        """``istio.io/dry-run: "true"``: evaluated and logged but not enforced (shadow rules)."""
        return self.metadata.annotations.get(DRY_RUN_ANNOTATION, "") in GO_TRUE
