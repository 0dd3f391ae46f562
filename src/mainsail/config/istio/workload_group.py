"""networking.istio.io WorkloadGroup: a template for WorkloadEntries of auto-registered VMs, with
their health probe (istio/api workload_group.proto). Structural checks only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import check_at_most_one
from mainsail.config.istio.workload_entry import WorkloadEntrySpec
from mainsail.config.wire_types import UInt32

NonNegInt32 = Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)]


class ObjectMeta(WireModel):
    """WorkloadGroup.ObjectMeta: labels and annotations copied onto each generated WorkloadEntry."""

    labels: Mapping[str, str] = Field(default_factory=dict, max_length=256)
    annotations: Mapping[str, str] = Field(default_factory=dict, max_length=256)


class HTTPHeader(WireModel):
    name: Annotated[str, Field(pattern=r"^[-_A-Za-z0-9]+$")] | None = None
    value: str | None = None


class HTTPHealthCheckConfig(WireModel):
    path: str | None = None
    port: UInt32
    host: str | None = None
    scheme: str | None = None
    http_headers: tuple[HTTPHeader, ...] = ()


class TCPHealthCheckConfig(WireModel):
    host: str | None = None
    port: UInt32


class ExecHealthCheckConfig(WireModel):
    command: tuple[str, ...]


class GrpcHealthCheckConfig(WireModel):
    port: UInt32 | None = None
    service: str | None = None


class ReadinessProbe(WireModel):
    initial_delay_seconds: NonNegInt32 | None = None
    timeout_seconds: NonNegInt32 | None = None
    period_seconds: NonNegInt32 | None = None
    success_threshold: NonNegInt32 | None = None
    failure_threshold: NonNegInt32 | None = None
    http_get: HTTPHealthCheckConfig | None = None
    tcp_socket: TCPHealthCheckConfig | None = None
    exec: ExecHealthCheckConfig | None = None
    grpc: GrpcHealthCheckConfig | None = None

    @model_validator(mode="after")
    def _one_check(self) -> Self:
        check_at_most_one(self, "http_get", "tcp_socket", "exec", "grpc")
        return self


class WorkloadGroupSpec(WireModel):
    metadata: ObjectMeta | None = None
    template: WorkloadEntrySpec
    probe: ReadinessProbe | None = None


class WorkloadGroup(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["WorkloadGroup"] = "WorkloadGroup"
    spec: WorkloadGroupSpec
    status: Mapping[str, object] | None = None
