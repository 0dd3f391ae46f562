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
    # The Sidecar resource governing this proxy (None for gateways and unscoped sidecars).
    sidecar: Sidecar | None = None
    # VirtualServices this proxy may use, oldest first (exportTo, Sidecar egress).
    virtual_services: tuple[VirtualService, ...] = ()
    # The Sidecar's ``outboundTrafficPolicy.mode``, else the mesh's.
    outbound_traffic_policy: OutboundMode = "ALLOW_ANY"


def exported_to(export_to: frozenset[str], owner_namespace: str, namespace: str) -> bool:
    if "*" in export_to:
        return True
    if "~" in export_to:
        return False
    return namespace in export_to or ("." in export_to and owner_namespace == namespace)


def build_proxy_view(snapshot: MeshSnapshot, node: ProxyNode) -> ProxyView:
    workload = snapshot.workload_at(node.ip)
    namespace = node.namespace
    sidecar = (
        sidecar_for(snapshot, namespace, node.label_map) if node.proxy_type == "sidecar" else None
    )
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
    inbound = snapshot.endpoints_at(node.ip) if node.proxy_type == "sidecar" else ()
    return ProxyView(
        node=node,
        workload=workload,
        visible_services=tuple(exported),
        inbound=inbound,
        sidecar=sidecar,
        virtual_services=tuple(virtual_services),
        outbound_traffic_policy=outbound_mode(snapshot, sidecar),
    )
