"""MeshSnapshot: one immutable picture of the mesh, built whole by ``build_snapshot``.

It holds the registry (services, endpoints, workloads) and the Istio config, with the indexes
translation needs. No locks, no metrics, no connections: those live with the ADS server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mainsail.config.base import Resource
from mainsail.config.istio.destination_rule import DestinationRule
from mainsail.config.istio.gateway import Gateway
from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Pod
from mainsail.config.mesh import MeshConfig
from mainsail.registry.kube import endpoints_from_kube, service_from_kube, workload_from_pod
from mainsail.registry.model import MeshService, ServiceEndpoint, Workload
from mainsail.registry.service_entry import services_from_service_entry
from mainsail.snapshot.hosts import resolve_short_name

EndpointKey = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshSnapshot:
    mesh: MeshConfig
    services: Mapping[str, MeshService]
    endpoints: Mapping[EndpointKey, tuple[ServiceEndpoint, ...]]
    workloads: tuple[Workload, ...]
    virtual_services: tuple[VirtualService, ...]
    destination_rules: tuple[DestinationRule, ...]
    gateways: tuple[Gateway, ...]

    def endpoints_of(self, hostname: str, port: int) -> tuple[ServiceEndpoint, ...]:
        return self.endpoints.get((hostname, port), ())

    def workload_at(self, address: str) -> Workload | None:
        return next((w for w in self.workloads if w.address == address), None)

    def gateway(self, namespace: str, name: str) -> Gateway | None:
        return next((g for g in self.gateways if g.namespace == namespace and g.name == name), None)


def _creation_order(resource: Resource) -> tuple[float, str, str]:
    created = resource.metadata.creation_timestamp
    return (created.timestamp() if created else 0.0, resource.namespace, resource.name)


def build_snapshot(resources: Iterable[Resource], mesh: MeshConfig | None = None) -> MeshSnapshot:
    """The whole snapshot from every config object in the store (Kubernetes kinds included)."""
    mesh = mesh or MeshConfig()
    items = list(resources)
    kube_services = [r for r in items if isinstance(r, Service)]
    workloads = tuple(
        sorted(
            (w for r in items if isinstance(r, Pod) if (w := workload_from_pod(r)) is not None),
            key=lambda w: (w.namespace, w.name),
        )
    )
    services: dict[str, MeshService] = {}
    endpoints: dict[EndpointKey, list[ServiceEndpoint]] = {}
    for kube_service in kube_services:
        mesh_service = service_from_kube(kube_service, mesh.domain)
        services[mesh_service.hostname] = mesh_service
        for endpoint in endpoints_from_kube(kube_service, mesh_service, workloads):
            endpoints.setdefault((endpoint.hostname, endpoint.service_port), []).append(endpoint)
    for entry in sorted((r for r in items if isinstance(r, ServiceEntry)), key=_creation_order):
        for mesh_service, service_endpoints in services_from_service_entry(
            entry, workloads, mesh.domain
        ):
            # Kubernetes services win over a ServiceEntry for the same host, as in Istio.
            if mesh_service.hostname in services:
                continue
            services[mesh_service.hostname] = mesh_service
            for endpoint in service_endpoints:
                endpoints.setdefault((endpoint.hostname, endpoint.service_port), []).append(
                    endpoint
                )
    return MeshSnapshot(
        mesh=mesh,
        services=MappingProxyType(dict(sorted(services.items()))),
        endpoints=MappingProxyType(
            {
                key: tuple(sorted(found, key=lambda e: (e.address, e.port)))
                for key, found in endpoints.items()
            }
        ),
        workloads=workloads,
        virtual_services=tuple(
            sorted((r for r in items if isinstance(r, VirtualService)), key=_creation_order)
        ),
        destination_rules=tuple(
            sorted((r for r in items if isinstance(r, DestinationRule)), key=_creation_order)
        ),
        gateways=tuple(sorted((r for r in items if isinstance(r, Gateway)), key=_creation_order)),
    )


def resolve_hosts(hosts: Iterable[str], namespace: str, domain: str) -> tuple[str, ...]:
    return tuple(resolve_short_name(h, namespace, domain) for h in hosts)
