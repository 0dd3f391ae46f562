"""networking.istio.io Gateway: a load balancer at the mesh edge (istio/api gateway.proto).

``Port`` and ``ServerTLSSettings`` are defined here (as in the proto) and reused by Sidecar.
Structural checks only; Istio's semantic rules live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.wire_types import Bool, UInt32

ServerTLSMode = Literal[
    "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
]
TLSProtocol = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class Port(WireModel):
    """A listening port: number, protocol (HTTP|HTTPS|GRPC|GRPC-WEB|HTTP2|MONGO|TCP|TLS) and name."""

    number: UInt32
    protocol: str
    name: str
    target_port: UInt32 | None = None


class TLSCertificate(WireModel):
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(WireModel):
    https_redirect: Bool | None = None
    mode: ServerTLSMode | None = None
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=2)
    tls_certificates: tuple[TLSCertificate, ...] | None = Field(
        default=None, min_length=1, max_length=2
    )
    subject_alt_names: tuple[str, ...] = ()
    verify_certificate_spki: tuple[str, ...] = ()
    verify_certificate_hash: tuple[str, ...] = ()
    min_protocol_version: TLSProtocol | None = None
    max_protocol_version: TLSProtocol | None = None
    cipher_suites: tuple[str, ...] = ()
    ca_cert_credential_name: str | None = None
    insecure_skip_verify: Bool | None = None


class Server(WireModel):
    port: Port
    bind: str | None = None
    hosts: tuple[str, ...]
    tls: ServerTLSSettings | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(WireModel):
    servers: tuple[Server, ...] = ()
    selector: Mapping[str, str] = Field(default_factory=dict)


class Gateway(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["Gateway"] = "Gateway"
    spec: GatewaySpec = Field(default_factory=GatewaySpec)
    status: Mapping[str, object] | None = None
