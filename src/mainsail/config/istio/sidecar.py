"""networking.istio.io Sidecar: what a sidecar proxy listens on and may reach
(istio/api sidecar.proto). Structural checks only; semantic rules live in
``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import WorkloadSelector
from mainsail.config.istio.destination_rule import ConnectionPoolSettings
from mainsail.config.istio.gateway import ServerTLSSettings
from mainsail.config.istio.virtual_service import Destination
from mainsail.config.wire_types import UInt32

CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]


class SidecarPort(WireModel):
    """Port as used by Sidecar listeners: all fields optional (unlike Gateway's ``Port``)."""

    number: UInt32 | None = None
    protocol: str | None = None
    name: str | None = None
    target_port: UInt32 | None = None


class IstioIngressListener(WireModel):
    port: SidecarPort
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(WireModel):
    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    hosts: tuple[str, ...]


class OutboundTrafficPolicy(WireModel):
    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None
    egress_proxy: Destination | None = None


class SidecarSpec(WireModel):
    workload_selector: WorkloadSelector | None = None
    ingress: tuple[IstioIngressListener, ...] = ()
    egress: tuple[IstioEgressListener, ...] = ()
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


class Sidecar(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["Sidecar"] = "Sidecar"
    spec: SidecarSpec = Field(default_factory=SidecarSpec)
    status: Mapping[str, object] | None = None
