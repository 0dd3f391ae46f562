"""security.istio.io PeerAuthentication: which mutual-TLS mode a workload's inbound side accepts
(istio/api security/v1beta1/peer_authentication.proto). Structural checks only; Istio's semantic
rules live in ``mainsail.config.validation``; scope resolution in ``mainsail.snapshot.security``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import MatchLabelsSelector

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]
SECURITY = "security.istio.io"


class PeerMutualTls(WireModel):
    """``mode`` absent is the proto default ``UNSET``: inherit from the parent scope."""

    mode: MtlsMode | None = None

    @property
    def effective_mode(self) -> MtlsMode:
        return self.mode or "UNSET"


class PeerAuthenticationSpec(WireModel):
    selector: MatchLabelsSelector | None = None
    mtls: PeerMutualTls | None = None
    # Keys are workload (target) ports as strings, as in the proto's map<uint32, MutualTLS>
    # rendered to JSON; the semantic validator checks they are 1-65535.
    port_level_mtls: Mapping[str, PeerMutualTls] | None = Field(default=None, min_length=1)


class PeerAuthentication(Resource):
    api_version: Literal["security.istio.io/v1", "security.istio.io/v1beta1"] = (
        "security.istio.io/v1"
    )
    kind: Literal["PeerAuthentication"] = "PeerAuthentication"
    spec: PeerAuthenticationSpec = Field(default_factory=PeerAuthenticationSpec)
    status: Mapping[str, object] | None = None
