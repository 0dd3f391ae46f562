"""What the agent knows about the pod whose proxy it runs: read from ``<state>/pods/<ns>.<pod>.json``.

The local platform writes those files (``mainsail.platform.PodSpec``); the agent reads only the
fields a pilot-agent would get from its pod's environment and ignores the rest. The two packages
stay independent (layer contract), so this read model mirrors part of ``PodSpec``; a test keeps
them in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mainsail.agent.errors import PodFileError


class ProxyPorts(BaseModel):
    """The proxy's ports on the pod address (same JSON shape as the platform's ``ProxyPorts``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    admin: int = 15000
    outbound: int = 15001
    status: int = 15020
    health: int = 15021
    prometheus: int = 15090


class ProxyWorkload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    namespace: str
    ip: str
    workload_name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    service_account: str = "default"
    proxy_type: Literal["sidecar", "router"] = "sidecar"
    app_ports: dict[int, int] = Field(default_factory=dict)
    proxy_ports: ProxyPorts = Field(default_factory=ProxyPorts)

    @property
    def key(self) -> str:
        """``<namespace>.<name>``: Istio's proxy id, and the stem of the pod's files."""
        return f"{self.namespace}.{self.name}"


def load_workload(path: Path) -> ProxyWorkload:
    try:
        return ProxyWorkload.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as error:
        raise PodFileError(f"{path}: {error}") from error
