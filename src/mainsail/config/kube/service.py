"""core/v1 Service and ServiceAccount (the fields a mesh reads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import ConfigDict, Field

from mainsail.config.base import Resource, WireModel


class ServicePort(WireModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    port: int = Field(ge=1, le=65535)
    target_port: int | str | None = None
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    app_protocol: str | None = None


class ServiceSpec(WireModel):
    model_config = ConfigDict(extra="ignore")

    ports: tuple[ServicePort, ...] = ()
    selector: Mapping[str, str] | None = None
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"
    external_name: str | None = None


class Service(Resource):
    spec: ServiceSpec = Field(default_factory=ServiceSpec)


class ServiceAccount(Resource):
    pass
