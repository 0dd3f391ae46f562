"""Which Gateway servers a router proxy serves, merged and grouped by port (reference §3.6).

Reads: Gateway (selector, servers), Services selecting the gateway pod (port → targetPort).
"""

from __future__ import annotations

from dataclasses import dataclass

from mainsail.registry.model import labels_match
from mainsail.registry.protocol import Protocol, parse_protocol
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundServer:
    gateway_namespace: str
    gateway_name: str
    hosts: tuple[str, ...]
    protocol: Protocol
    https_redirect: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayServerPort:
    """All servers on one Gateway port; ``listen_port`` is the pod port the proxy binds."""

    number: int
    listen_port: int
    protocol: Protocol
    servers: tuple[BoundServer, ...]


def gateway_server_ports(snapshot: MeshSnapshot, view: ProxyView) -> list[GatewayServerPort]:
    labels = view.node.label_map
    grouped: dict[int, list[BoundServer]] = {}
    for gateway in snapshot.gateways:
        if not gateway.spec.selector or not labels_match(gateway.spec.selector, labels):
            continue
        for server in gateway.spec.servers:
            grouped.setdefault(server.port.number, []).append(
                BoundServer(
                    gateway_namespace=gateway.namespace,
                    gateway_name=gateway.name,
                    hosts=tuple(server.hosts),
                    protocol=parse_protocol(server.port.protocol),
                    https_redirect=bool(server.tls is not None and server.tls.https_redirect),
                )
            )
    return [
        GatewayServerPort(
            number=number,
            listen_port=_target_port(snapshot, view, number),
            protocol=servers[0].protocol,
            servers=tuple(servers),
        )
        for number, servers in sorted(grouped.items())
    ]


def _target_port(snapshot: MeshSnapshot, view: ProxyView, number: int) -> int:
    """A Service port of the gateway pod maps to its container port (80 → 8080)."""
    for endpoint in snapshot.endpoints_at(view.node.ip):
        if endpoint.service_port == number:
            return endpoint.port
    return number
