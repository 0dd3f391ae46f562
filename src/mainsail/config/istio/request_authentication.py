"""security.istio.io RequestAuthentication: which JWTs a workload accepts
(istio/api security/v1beta1/request_authentication.proto, ``JWTRule`` from jwt.proto).
Structural checks only; Istio's semantic rules live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, model_validator

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import (
    MatchLabelsSelector,
    PolicyTargetReference,
    check_at_most_one,
)
from mainsail.config.wire_types import Bool, Duration

NonEmpty = Annotated[str, Field(min_length=1)]


class JWTHeader(WireModel):
    """A header the token is read from; ``prefix`` (e.g. ``"Bearer "``) is stripped first."""

    name: NonEmpty
    prefix: str | None = None


class ClaimToHeader(WireModel):
    header: Annotated[str, Field(min_length=1, pattern=r"^[-_A-Za-z0-9]+$")]
    claim: NonEmpty


class JWTRule(WireModel):
    issuer: NonEmpty | None = None
    audiences: tuple[NonEmpty, ...] = ()
    # The CRD accepts both spellings (the proto's json_name and the field name).
    jwks_uri: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        validation_alias=AliasChoices("jwksUri", "jwks_uri"),
        serialization_alias="jwksUri",
    )
    jwks: str | None = None
    from_headers: tuple[JWTHeader, ...] = ()
    from_params: tuple[NonEmpty, ...] = ()
    from_cookies: tuple[NonEmpty, ...] = ()
    output_payload_to_header: str | None = None
    forward_original_token: Bool | None = None
    output_claim_to_headers: tuple[ClaimToHeader, ...] = ()
    space_delimited_claims: tuple[NonEmpty, ...] = Field(default=(), max_length=64)
    timeout: Duration | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        check_at_most_one(self, "jwks_uri", "jwks")
        return self


class RequestAuthenticationSpec(WireModel):
    selector: MatchLabelsSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: tuple[PolicyTargetReference, ...] = Field(default=(), max_length=16)
    jwt_rules: tuple[JWTRule, ...] = Field(default=(), max_length=4096)


class RequestAuthentication(Resource):
    api_version: Literal["security.istio.io/v1", "security.istio.io/v1beta1"] = (
        "security.istio.io/v1"
    )
    kind: Literal["RequestAuthentication"] = "RequestAuthentication"
    spec: RequestAuthenticationSpec = Field(default_factory=RequestAuthenticationSpec)
    status: Mapping[str, object] | None = None
