"""Outbound TCP on the local platform: one listener per TCP service port the app may call.

Nothing is captured locally, so an app reaches a TCP service the Kubernetes way, through the
``<SVC>_SERVICE_HOST``/``_PORT`` variables; they point at a listener its own sidecar binds on the
pod address. The service's port is used when it is free on the pod, else the next free one from
``service port + 10000`` up. The control plane computes the assignment (here, purely) and the
platform reads it through the API, so listeners and variables always agree.

A plain TCP port of a ``resolution: NONE`` ServiceEntry gets a listener only when the entry has
a single address to send to (its ``addresses``; the book's "VIP for TCP"): the app dials the
listener instead of the VIP. Its chains follow the VirtualServices' ``tcp``/``tls`` routes.

Reads: services (registry), VirtualService and DestinationRule (through ``xds.tcp_routes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.registry.model import MeshService, Resolution, ServicePort
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import ProxyView, build_proxy_view
from mainsail.xds.clusters import effective_resolution
from mainsail.xds.protos import socket_address
from mainsail.xds.tcp_routes import needs_tls_inspector, outbound_filter_chains

_SHIFT = 10000
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOutbound:
    service: MeshService
    port: ServicePort
    listen_port: int


def tcp_outbound_ports(view: ProxyView, reserved: frozenset[int]) -> tuple[TcpOutbound, ...]:
    """Which local port each visible TCP service port gets on this pod.

    ``reserved``: ports the pod already uses (its inbound ports and the proxy's own ports).
    """
    taken = set(reserved) | {e.port for e in view.inbound}
    assigned: list[TcpOutbound] = []
    for service in view.visible_services:
        for port in service.ports:
            if not port.protocol.is_tcp or not _reachable(service, port, view):
                continue
            listen = port.port
            if listen in taken:
                listen = port.port + _SHIFT if port.port + _SHIFT <= 65535 else 20000
                while listen in taken:
                    listen += 1
            taken.add(listen)
            assigned.append(TcpOutbound(service=service, port=port, listen_port=listen))
    return tuple(assigned)


def _reachable(service: MeshService, port: ServicePort, view: ProxyView) -> bool:
    """A plain TCP port of a ``resolution: NONE`` entry without a single address has nowhere to
    go when nothing is captured (passthrough would dial this very listener): no listener."""
    if effective_resolution(service, view) is not Resolution.PASSTHROUGH:
        return True
    if port.protocol.is_tls:
        return True  # forwarded by SNI
    return any("/" not in a or a.endswith(("/32", "/128")) for a in service.addresses)


def build_tcp_outbound_listeners(
    snapshot: MeshSnapshot, view: ProxyView, outbound: tuple[TcpOutbound, ...]
) -> list[listener_pb2.Listener]:
    """One listener per assigned port; its chains come from the VirtualServices' ``tcp``/``tls``
    routes (``xds.tcp_routes``)."""
    listeners = []
    for item in outbound:
        name = naming.build_listener_name(view.node.ip, item.listen_port)
        chains = outbound_filter_chains(snapshot, view, item.service, item.port, name)
        listener = listener_pb2.Listener(
            name=name,
            address=socket_address(view.node.ip, item.listen_port),
            traffic_direction=base_pb2.OUTBOUND,
            filter_chains=chains,
        )
        if needs_tls_inspector(chains):
            inspector = any_pb2.Any()
            inspector.Pack(tls_inspector_pb2.TlsInspector())
            listener.listener_filters.add(name=TLS_INSPECTOR, typed_config=inspector)
        listeners.append(listener)
    return listeners


def service_variables(outbound: tuple[TcpOutbound, ...], ip: str, namespace: str) -> dict[str, str]:
    """The Kubernetes-style variables for the TCP services of the pod's own namespace."""
    env: dict[str, str] = {}
    for item in outbound:
        if item.service.namespace != namespace or item.service.registry != "Kubernetes":
            continue
        prefix = item.service.name.upper().replace("-", "_")
        env.setdefault(f"{prefix}_SERVICE_HOST", ip)
        env.setdefault(f"{prefix}_SERVICE_PORT", str(item.listen_port))
        if item.port.name:
            name = item.port.name.upper().replace("-", "_")
            env[f"{prefix}_SERVICE_PORT_{name}"] = str(item.listen_port)
    return env


def local_service_env(
    snapshot: MeshSnapshot,
    namespace: str,
    ip: str,
    labels: Mapping[str, str],
    reserved: frozenset[int],
) -> dict[str, str]:
    """The variables a local pod's apps get, from the same assignment its listeners use."""
    node = ProxyNode(
        node_id="",
        proxy_type="sidecar",
        ip=ip,
        pod_name="",
        namespace=namespace,
        labels=tuple(sorted(labels.items())),
        interception_mode="NONE",
    )
    view = build_proxy_view(snapshot, node)
    return service_variables(tcp_outbound_ports(view, reserved), ip, namespace)
