"""networking.istio.io ServiceEntry: adds a service to the mesh's registry
(istio/api service_entry.proto). Structural checks only; the resolution/endpoint/address rules
live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import WorkloadSelector
from mainsail.config.istio.workload_entry import WorkloadEntrySpec
from mainsail.config.wire_types import UInt32

Location = Literal["MESH_EXTERNAL", "MESH_INTERNAL"]
Resolution = Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"]


class ServicePort(WireModel):
    number: UInt32
    protocol: Annotated[str, Field(max_length=256)] | None = None
    name: Annotated[str, Field(max_length=256)]
    target_port: UInt32 | None = None


class ServiceEntrySpec(WireModel):
    hosts: tuple[str, ...] = Field(min_length=1, max_length=256)
    addresses: tuple[Annotated[str, Field(max_length=64)], ...] = Field(default=(), max_length=256)
    ports: tuple[ServicePort, ...] = Field(default=(), max_length=256)
    location: Location | None = None
    resolution: Resolution | None = None
    endpoints: tuple[WorkloadEntrySpec, ...] = Field(default=(), max_length=4096)
    workload_selector: WorkloadSelector | None = None
    export_to: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()


class ServiceEntry(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["ServiceEntry"] = "ServiceEntry"
    spec: ServiceEntrySpec
    status: Mapping[str, object] | None = None
