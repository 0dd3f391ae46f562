"""ProxyView: the part of the snapshot one proxy may see (its cache key, with the node).

Visibility: ``exportTo`` of services and VirtualServices, then (sidecars only) the egress scope
of the Sidecar resource that governs the proxy (``snapshot.sidecar_scope``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import MeshService, ServiceEndpoint, Workload
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.sidecar_scope import (
    OutboundMode,
    egress_scopes,
    outbound_mode,
    scoped_service,
    sidecar_for,
    virtual_service_in_scope,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyView:
    node: ProxyNode
    workload: Workload | None
    # Services this proxy can call, in hostname order (a Sidecar egress listener with a port
    # leaves a service only that port).
    visible_services: tuple[MeshService, ...]
    # This proxy's own endpoints: the (service port → its workload port) it serves.
    inbound: tuple[ServiceEndpoint, ...]
    # The Services of those endpoints, whole, whatever exportTo or a Sidecar's egress scope say
    # (istiod's ServiceTargets): inbound listeners, clusters and telemetry read them. Looked up
    # in ``visible_services`` instead, a Sidecar whose egress left out the workload's own
    # Service turned its inbound HCM into a tcp_proxy, and removing the Sidecar turned it back:
    # each flip drained the old chain and cut its keep-alive connections mid-request (503 UC).
    inbound_services: tuple[MeshService, ...] = ()
    # The Sidecar resource governing this proxy (None for gateways and unscoped sidecars).
    sidecar: Sidecar | None = None
    # VirtualServices this proxy may use, oldest first (exportTo, Sidecar egress).
    virtual_services: tuple[VirtualService, ...] = ()
    # The Sidecar's ``outboundTrafficPolicy.mode``, else the mesh's.
    outbound_traffic_policy: OutboundMode = "ALLOW_ANY"

    def inbound_service(self, hostname: str) -> MeshService | None:
        """The proxy's own Service ``hostname`` (one of ``inbound_services``)."""
        return next((s for s in self.inbound_services if s.hostname == hostname), None)


def exported_to(export_to: frozenset[str], owner_namespace: str, namespace: str) -> bool:
    if "*" in export_to:
        return True
    if "~" in export_to:
        return False
    return namespace in export_to or ("." in export_to and owner_namespace == namespace)


@dataclass(frozen=True, slots=True, kw_only=True)
class Visibility:
    """What every proxy of one namespace under one Sidecar (or none) may see."""

    sidecar: Sidecar | None
    services: tuple[MeshService, ...]
    virtual_services: tuple[VirtualService, ...]


def governing_sidecar(snapshot: MeshSnapshot, node: ProxyNode) -> Sidecar | None:
    if node.proxy_type != "sidecar":
        return None
    return sidecar_for(snapshot, node.namespace, node.label_map)


def visibility(snapshot: MeshSnapshot, namespace: str, sidecar: Sidecar | None) -> Visibility:
    """The services and VirtualServices exported to ``namespace``, narrowed by ``sidecar``'s
    egress scope. Depends only on its arguments: callers translating many proxies share it."""
    exported = [
        s for s in snapshot.services.values() if exported_to(s.export_to, s.namespace, namespace)
    ]
    virtual_services = [
        vs
        for vs in snapshot.virtual_services
        if exported_to(frozenset(vs.spec.export_to or ("*",)), vs.namespace, namespace)
    ]
    if sidecar is not None:
        scopes = egress_scopes(sidecar, namespace)
        exported = [s for s in (scoped_service(s, scopes) for s in exported) if s is not None]
        virtual_services = [
            vs
            for vs in virtual_services
            if virtual_service_in_scope(vs, scopes, snapshot.mesh.domain)
        ]
    return Visibility(
        sidecar=sidecar, services=tuple(exported), virtual_services=tuple(virtual_services)
    )


def build_proxy_view(
    snapshot: MeshSnapshot, node: ProxyNode, seen: Visibility | None = None
) -> ProxyView:
    """``seen``: the node's ``visibility`` when the caller already has it."""
    if seen is None:
        seen = visibility(snapshot, node.namespace, governing_sidecar(snapshot, node))
    inbound = snapshot.endpoints_at(node.ip) if node.proxy_type == "sidecar" else ()
    return ProxyView(
        node=node,
        workload=snapshot.workload_at(node.ip),
        visible_services=seen.services,
        inbound=inbound,
        sidecar=seen.sidecar,
        virtual_services=seen.virtual_services,
        outbound_traffic_policy=outbound_mode(snapshot, seen.sidecar),
        inbound_services=_own_services(snapshot, inbound),
    )


def _own_services(
    snapshot: MeshSnapshot, inbound: tuple[ServiceEndpoint, ...]
) -> tuple[MeshService, ...]:
    hostnames = dict.fromkeys(e.hostname for e in inbound)
    return tuple(s for h in hostnames if (s := snapshot.services.get(h)) is not None)
