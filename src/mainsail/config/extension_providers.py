"""MeshConfig ``extensionProviders`` used by AuthorizationPolicy CUSTOM (istio/api mesh/v1alpha1
config.proto ``MeshConfig.ExtensionProvider``): ``envoyExtAuthzHttp`` and ``envoyExtAuthzGrpc``.

Other provider kinds (tracing, access logs, telemetry) are tolerated here, not modelled: the
telemetry work reads them with its own model; unknown keys are ignored rather than rejected so a
mesh config written for Istio loads unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import ConfigDict, Field

from mainsail.config.base import WireModel
from mainsail.config.tracing import OpenTelemetryTracingProvider, ZipkinTracingProvider
from mainsail.config.wire_types import Bool, Duration, UInt32


class ExtAuthzRequestBody(WireModel):
    """``includeRequestBodyInCheck``: buffer the request body and send it to the authorizer."""

    max_request_bytes: UInt32 = 0
    allow_partial_message: Bool = False
    pack_as_bytes: Bool = False


class EnvoyExtAuthzHttp(WireModel):
    service: str
    port: UInt32
    timeout: Duration | None = None
    path_prefix: str = ""
    fail_open: Bool = False
    status_on_error: str = ""
    include_headers_in_check: tuple[str, ...] = ()  # deprecated spelling of the next one
    include_request_headers_in_check: tuple[str, ...] = ()
    include_additional_headers_in_check: Mapping[str, str] = Field(default_factory=dict)
    include_request_body_in_check: ExtAuthzRequestBody | None = None
    headers_to_upstream_on_allow: tuple[str, ...] = ()
    headers_to_downstream_on_deny: tuple[str, ...] = ()
    headers_to_downstream_on_allow: tuple[str, ...] = ()


class EnvoyExtAuthzGrpc(WireModel):
    service: str
    port: UInt32
    timeout: Duration | None = None
    fail_open: Bool = False
    status_on_error: str = ""
    include_request_body_in_check: ExtAuthzRequestBody | None = None


class AccessLogFormat(WireModel):
    """``envoyFileAccessLog.logFormat``: ``text`` or ``labels`` (a JSON object), a oneof."""

    text: str | None = None
    labels: Mapping[str, object] | None = None


class EnvoyFileAccessLog(WireModel):
    """``envoyFileAccessLog`` (Telemetry access logging; ``xds.telemetry_api``)."""

    path: str = ""
    log_format: AccessLogFormat | None = None


class PrometheusProvider(WireModel):
    """``prometheus: {}``: Istio's standard metrics (no settings)."""


class ExtensionProvider(WireModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    envoy_ext_authz_http: EnvoyExtAuthzHttp | None = None
    envoy_ext_authz_grpc: EnvoyExtAuthzGrpc | None = None
    # Tracing providers (``config.tracing``; read by ``xds.telemetry_tracing``).
    zipkin: ZipkinTracingProvider | None = None
    opentelemetry: OpenTelemetryTracingProvider | None = None
    # Telemetry metrics and access logging providers (``snapshot.telemetry``).
    prometheus: PrometheusProvider | None = None
    envoy_file_access_log: EnvoyFileAccessLog | None = None


# istiod's default when a provider sets no ``timeout`` (``timeoutOrDefault``): 10 minutes.
DEFAULT_EXT_AUTHZ_TIMEOUT = timedelta(seconds=600)
