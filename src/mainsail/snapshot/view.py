"""ProxyView: the part of the snapshot one proxy may see (its cache key, with the node)."""

from __future__ import annotations

from dataclasses import dataclass

from mainsail.registry.model import MeshService, ServiceEndpoint, Workload
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyView:
    node: ProxyNode
    workload: Workload | None
    # Services this proxy can call, in hostname order.
    visible_services: tuple[MeshService, ...]
    # This proxy's own endpoints: the (service port → its workload port) it serves.
    inbound: tuple[ServiceEndpoint, ...]


def exported_to(export_to: frozenset[str], owner_namespace: str, namespace: str) -> bool:
    if "*" in export_to:
        return True
    if "~" in export_to:
        return False
    return namespace in export_to or ("." in export_to and owner_namespace == namespace)


def build_proxy_view(snapshot: MeshSnapshot, node: ProxyNode) -> ProxyView:
    workload = snapshot.workload_at(node.ip)
    visible = tuple(
        s
        for s in snapshot.services.values()
        if exported_to(s.export_to, s.namespace, node.namespace)
    )
    inbound = snapshot.endpoints_at(node.ip) if node.proxy_type == "sidecar" else ()
    return ProxyView(node=node, workload=workload, visible_services=visible, inbound=inbound)
