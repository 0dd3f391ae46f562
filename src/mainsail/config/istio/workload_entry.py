"""networking.istio.io WorkloadEntry: a non-Kubernetes workload such as a VM
(istio/api workload_entry.proto). Its spec is also a ServiceEntry endpoint and a WorkloadGroup
template. Structural checks only; semantic rules live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.wire_types import UInt32


class WorkloadEntrySpec(WireModel):
    address: Annotated[str, Field(max_length=256)] | None = None
    ports: Mapping[str, UInt32] = Field(default_factory=dict, max_length=128)
    labels: Mapping[str, str] = Field(default_factory=dict, max_length=256)
    network: Annotated[str, Field(max_length=2048)] | None = None
    locality: Annotated[str, Field(max_length=2048)] | None = None
    weight: UInt32 | None = None
    service_account: Annotated[str, Field(max_length=253)] | None = None


class WorkloadEntry(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["WorkloadEntry"] = "WorkloadEntry"
    spec: WorkloadEntrySpec
    status: Mapping[str, object] | None = None
