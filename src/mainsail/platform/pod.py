"""A pod of the local platform: what to run, on which loopback address, with which ports.

A ``PodSpec`` is written as JSON to ``<state>/pods/<ns>.<pod>.json``; the node agent reads it to
give the pod its Envoy, the supervisor reads it to run the pod's app containers.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ProxyType = Literal["sidecar", "router"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProxyPorts(_Frozen):
    """The proxy's well-known ports on the pod address (architecture §10).

    Overridable because tests (and a shared host) must use OS-chosen free ports.
    """

    admin: int = Field(default=15000, ge=1, le=65535)
    outbound: int = Field(default=15001, ge=1, le=65535)
    status: int = Field(default=15020, ge=1, le=65535)
    health: int = Field(default=15021, ge=1, le=65535)
    prometheus: int = Field(default=15090, ge=1, le=65535)

    @model_validator(mode="after")
    def _distinct(self) -> ProxyPorts:
        ports = [self.admin, self.outbound, self.status, self.health, self.prometheus]
        if len(set(ports)) != len(ports):
            raise ValueError(f"proxy ports must be distinct, got {ports}")
        return self


class ContainerPortSpec(_Frozen):
    container_port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str = "TCP"


class ContainerSpec(_Frozen):
    """One app process: ``command`` + ``args`` is what runs (the image is not used locally)."""

    name: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    ports: tuple[ContainerPortSpec, ...] = ()
    working_dir: str | None = None

    @property
    def argv(self) -> tuple[str, ...]:
        return self.command + self.args


class PodSpec(_Frozen):
    name: str
    namespace: str
    ip: str
    workload_name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    service_account: str = "default"
    proxy_type: ProxyType = "sidecar"
    containers: tuple[ContainerSpec, ...] = ()
    # containerPort -> the private port the app listens on (on ``ip``); the sidecar owns containerPort.
    app_ports: dict[int, int] = Field(default_factory=dict)
    proxy_ports: ProxyPorts = Field(default_factory=ProxyPorts)
    # Extra environment for every app container of the pod (after the container's own env).
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("ip")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        ipaddress.IPv4Address(value)
        return value

    @model_validator(mode="after")
    def _ports_mapped(self) -> PodSpec:
        for container in self.containers:
            for port in container.ports:
                if port.container_port not in self.app_ports:
                    raise ValueError(
                        f"container {container.name!r} port {port.container_port} has no app port"
                    )
        return self

    @property
    def key(self) -> str:
        """``<namespace>.<name>``: the pod's file stem and log prefix (Istio's proxy id)."""
        return f"{self.namespace}.{self.name}"

    @property
    def has_app(self) -> bool:
        return self.proxy_type == "sidecar" and bool(self.containers)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> PodSpec:
        return cls.model_validate_json(text)
