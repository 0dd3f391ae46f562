"""authentication.istio.io/v1alpha1 Policy and MeshPolicy (istio/api 1.5
``authentication/v1alpha1/policy.proto``; CRD schema from Istio 1.4 ``crd-10.yaml``).

The 1.4 CRDs accepted both the JSON name and the proto field name of a few fields
(``jwksUri``/``jwks_uri``, ``jwtHeaders``/``jwt_headers``, ``triggerRules``/``trigger_rules`` …);
so do we.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator

from mainsail.config.base import Resource
from mainsail.config.istio.common import check_at_most_one
from mainsail.config.legacy.base import LegacyModel
from mainsail.config.wire_types import Bool, UInt32

AUTHENTICATION = "authentication.istio.io"


def _both(camel: str, snake: str) -> Any:
    return Field(default=(), validation_alias=AliasChoices(camel, snake), serialization_alias=camel)


class StringMatch(LegacyModel):
    """Exactly one of exact/prefix/suffix/regex (a proto ``oneof``)."""

    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        check_at_most_one(self, "exact", "prefix", "suffix", "regex")
        return self


class TriggerRule(LegacyModel):
    excluded_paths: tuple[StringMatch, ...] = _both("excludedPaths", "excluded_paths")
    included_paths: tuple[StringMatch, ...] = _both("includedPaths", "included_paths")


class Jwt(LegacyModel):
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    jwks_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("jwksUri", "jwks_uri"),
        serialization_alias="jwksUri",
    )
    jwks: str | None = None
    jwt_headers: tuple[str, ...] = _both("jwtHeaders", "jwt_headers")
    jwt_params: tuple[str, ...] = ()
    trigger_rules: tuple[TriggerRule, ...] = _both("triggerRules", "trigger_rules")


class MutualTls(LegacyModel):
    """``mode`` absent is the proto default STRICT; ``allowTls`` (deprecated) means PERMISSIVE."""

    allow_tls: Bool | None = None
    mode: Literal["STRICT", "PERMISSIVE"] | None = None

    @property
    def effective_mode(self) -> Literal["STRICT", "PERMISSIVE"]:
        if self.mode is not None:
            return self.mode
        return "PERMISSIVE" if self.allow_tls else "STRICT"


class PeerAuthenticationMethod(LegacyModel):
    mtls: MutualTls | None = None
    jwt: Jwt | None = None  # deprecated and never implemented by Istio

    @field_validator("mtls", mode="before")
    @classmethod
    def _bare_mtls(cls, value: object) -> object:
        # The docs' ``peers: [{mtls: }]`` (YAML null) selects mTLS with default settings.
        return {} if value is None else value

    @model_validator(mode="after")
    def _one(self) -> Self:
        check_at_most_one(self, "mtls", "jwt")
        return self


class OriginAuthenticationMethod(LegacyModel):
    jwt: Jwt | None = None


class PortSelector(LegacyModel):
    number: UInt32 | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        check_at_most_one(self, "number", "name")
        return self


_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def target_service_name(name: str, namespace: str) -> str | None:
    """The Service a target names: a short name, or (beyond Istio, for the book's examples)
    ``<short>.<namespace>[.svc[.<domain>...]]`` in the policy's own namespace; else None."""
    short, _, rest = name.partition(".")
    if len(short) > 63 or not _LABEL.match(short):
        return None
    if not rest:
        return short
    parts = rest.split(".")
    if parts[0] == namespace and (len(parts) == 1 or parts[1] == "svc"):
        return short
    return None


class TargetSelector(LegacyModel):
    """A Service (short name, resolved in the policy's namespace) and some of its ports."""

    name: str
    labels: Mapping[str, str] = Field(default_factory=dict)  # in 1.4's CRD, never implemented
    ports: tuple[PortSelector, ...] = ()


class PolicySpec(LegacyModel):
    targets: tuple[TargetSelector, ...] = ()
    peers: tuple[PeerAuthenticationMethod, ...] = ()
    peer_is_optional: Bool | None = None
    origins: tuple[OriginAuthenticationMethod, ...] = ()
    origin_is_optional: Bool | None = None
    principal_binding: Literal["USE_PEER", "USE_ORIGIN"] | None = None


class Policy(Resource):
    api_version: Literal["authentication.istio.io/v1alpha1"] = "authentication.istio.io/v1alpha1"
    kind: Literal["Policy"] = "Policy"
    spec: PolicySpec = Field(default_factory=PolicySpec)
    status: Mapping[str, object] | None = None


class MeshPolicy(Resource):
    """The cluster-scoped mesh-wide policy (Istio only honoured the one named ``default``)."""

    api_version: Literal["authentication.istio.io/v1alpha1"] = "authentication.istio.io/v1alpha1"
    kind: Literal["MeshPolicy"] = "MeshPolicy"
    spec: PolicySpec = Field(default_factory=PolicySpec)
    status: Mapping[str, object] | None = None
