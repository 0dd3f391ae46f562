"""What a connected proxy is, as read from its Envoy node (id + metadata). Frozen; a cache key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

InterceptionMode = Literal["REDIRECT", "TPROXY", "NONE"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyNode:
    """A sidecar or gateway proxy.

    ``interception_mode`` NONE is the local platform: nothing is captured, so listeners bind the
    pod's own address (``ip``) and the app reaches the mesh through the HTTP-proxy listener on
    ``http_proxy_port``.
    """

    node_id: str
    proxy_type: Literal["sidecar", "router"]
    ip: str
    pod_name: str
    namespace: str
    domain: str = "cluster.local"
    labels: tuple[tuple[str, str], ...] = ()
    service_account: str = "default"
    workload_name: str = ""
    interception_mode: InterceptionMode = "REDIRECT"
    http_proxy_port: int | None = None
    # Local platform: container port -> the private port the app listens on (pod address).
    app_ports: tuple[tuple[int, int], ...] = ()
    # Extra values from node metadata that translation may read (kept sorted, hashable).
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def proxy_id(self) -> str:
        return f"{self.pod_name}.{self.namespace}"

    @property
    def label_map(self) -> Mapping[str, str]:
        return dict(self.labels)

    @property
    def own_ports(self) -> frozenset[int]:
        """Ports the proxy itself binds on the pod address (admin, agent, health, stats)."""
        keys = (
            "ENVOY_STATUS_PORT",
            "ENVOY_PROMETHEUS_PORT",
            "MAINSAIL_ADMIN_PORT",
            "MAINSAIL_AGENT_PORT",
        )
        extra = dict(self.extra)
        found = {int(extra[k]) for k in keys if extra.get(k, "").isdigit()}
        if self.http_proxy_port:
            found.add(self.http_proxy_port)
        return frozenset(found)
