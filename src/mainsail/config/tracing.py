"""Tracing settings of MeshConfig (istio/api mesh/v1alpha1 ``config.proto``).

``extensionProviders[].zipkin`` / ``.opentelemetry`` name where spans go;
``defaultProviders.tracing`` picks one; ``defaultConfig.tracing.sampling`` is the mesh-wide
random sampling percentage (istiod's default 1 %, ``PILOT_TRACE_SAMPLING``); ``enableTracing:
false`` turns tracing off everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict, Field

from mainsail.config.base import WireModel
from mainsail.config.wire_types import Bool, Duration, UInt32

# istiod's ``PILOT_TRACE_SAMPLING`` default, in percent.
DEFAULT_SAMPLING = 1.0
# istiod's default ``maxTagLength`` (Envoy's ``max_path_tag_length``), when a provider sets 0.
DEFAULT_MAX_TAG_LENGTH = 256


class ZipkinTracingProvider(WireModel):
    service: str
    port: UInt32
    max_tag_length: UInt32 = 0
    enable_64bit_trace_id: Bool = Field(default=False, alias="enable64bitTraceId")
    path: str = ""
    trace_context_option: Literal["USE_B3", "USE_B3_WITH_W3C_PROPAGATION"] = "USE_B3"
    timeout: Duration | None = None
    headers: tuple[Mapping[str, object], ...] = ()


class OtelHttp(WireModel):
    model_config = ConfigDict(extra="ignore")

    path: str = ""
    timeout: Duration | None = None


class OtelGrpc(WireModel):
    model_config = ConfigDict(extra="ignore")

    timeout: Duration | None = None


class OpenTelemetryTracingProvider(WireModel):
    model_config = ConfigDict(extra="ignore")

    service: str
    port: UInt32
    max_tag_length: UInt32 = 0
    http: OtelHttp | None = None
    grpc: OtelGrpc | None = None


class TracingDefaults(WireModel):
    """``defaultConfig.tracing`` (ProxyConfig ``Tracing``): what we read of it."""

    model_config = ConfigDict(extra="ignore")

    # Percent, 0-100; unset: ``DEFAULT_SAMPLING``.
    sampling: float | None = Field(default=None, ge=0.0, le=100.0)
    max_path_tag_length: UInt32 = 0


class ProxyConfigDefaults(WireModel):
    """MeshConfig ``defaultConfig``: only ``tracing`` is read; other keys are tolerated."""

    model_config = ConfigDict(extra="ignore")

    tracing: TracingDefaults = Field(default_factory=TracingDefaults)


__all__ = [
    "DEFAULT_MAX_TAG_LENGTH",
    "DEFAULT_SAMPLING",
    "OpenTelemetryTracingProvider",
    "OtelGrpc",
    "OtelHttp",
    "ProxyConfigDefaults",
    "TracingDefaults",
    "ZipkinTracingProvider",
]
