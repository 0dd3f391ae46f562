"""Which Gateway servers a router proxy serves, merged and grouped by port (reference §3.6).

Reads: Gateway (selector, servers), Services selecting the gateway pod (port → targetPort).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mainsail import naming
from mainsail.config.istio.gateway import ServerTLSSettings
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
    port_name: str = ""
    tls: ServerTLSSettings | None = None

    @property
    def terminates_tls(self) -> bool:
        """An HTTPS server not in a passthrough mode (``IsHTTPSServerWithTLSTermination``)."""
        if self.tls is None or self.protocol is not Protocol.HTTPS:
            return False
        return self.tls.mode not in ("PASSTHROUGH", "AUTO_PASSTHROUGH")

    @property
    def terminates_tcp_tls(self) -> bool:
        """A ``protocol: TLS`` server not in a passthrough mode: TLS ends here, then ``tcp`` routes."""
        if self.tls is None or self.protocol is not Protocol.TLS:
            return False
        return self.tls.mode not in ("PASSTHROUGH", "AUTO_PASSTHROUGH")

    @property
    def passes_through(self) -> bool:
        """A TLS (or HTTPS) server in ``PASSTHROUGH`` mode: routed by SNI, not terminated."""
        return self.tls is not None and self.protocol.is_tls and self.tls.mode == "PASSTHROUGH"


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
                    port_name=server.port.name,
                    tls=server.tls,
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


def https_route_ports(server_ports: list[GatewayServerPort]) -> list[tuple[str, GatewayServerPort]]:
    """(RDS name, the port narrowed to that server) of each TLS-terminating HTTPS server: each
    has its own route configuration, holding only the VirtualServices bound to it."""
    found = []
    for port in server_ports:
        for server in port.servers:
            if server.terminates_tls:
                name = naming.build_gateway_https_route_name(
                    port.number, server.port_name, server.gateway_name, server.gateway_namespace
                )
                found.append((name, replace(port, servers=(server,))))
    return found


def _target_port(snapshot: MeshSnapshot, view: ProxyView, number: int) -> int:
    """A Service port of the gateway pod maps to its container port (80 → 8080)."""
    for endpoint in snapshot.endpoints_at(view.node.ip):
        if endpoint.service_port == number:
            return endpoint.port
    return number
