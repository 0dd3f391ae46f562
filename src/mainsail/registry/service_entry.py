"""ServiceEntry (and the workloads it selects) → mesh services and endpoints (reference §3.5)."""

from __future__ import annotations

from collections.abc import Iterable

from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.registry.model import (
    MeshService,
    Resolution,
    ServiceEndpoint,
    ServicePort,
    Workload,
    labels_match,
    sorted_labels,
)
from mainsail.registry.protocol import parse_protocol

_RESOLUTIONS = {
    "NONE": Resolution.PASSTHROUGH,
    "STATIC": Resolution.CLIENT_SIDE_LB,
    "DNS": Resolution.DNS,
    "DNS_ROUND_ROBIN": Resolution.DNS_ROUND_ROBIN,
}


def services_from_service_entry(
    entry: ServiceEntry, workloads: Iterable[Workload], domain: str = "cluster.local"
) -> tuple[tuple[MeshService, tuple[ServiceEndpoint, ...]], ...]:
    """One mesh service per host of the entry, each with its endpoints."""
    spec = entry.spec
    ports = tuple(
        ServicePort(
            name=p.name or str(p.number),
            port=p.number,
            protocol=parse_protocol(p.protocol or ""),
            target_port=p.target_port or None,
        )
        for p in spec.ports
    )
    resolution = _RESOLUTIONS.get(spec.resolution or "NONE", Resolution.PASSTHROUGH)
    export_to = frozenset(spec.export_to) if spec.export_to else frozenset({"*"})
    result: list[tuple[MeshService, tuple[ServiceEndpoint, ...]]] = []
    instances = _instances(entry, workloads)
    for host in spec.hosts:
        service = MeshService(
            hostname=host,
            name=host,
            namespace=entry.namespace,
            ports=ports,
            addresses=tuple(spec.addresses),
            resolution=resolution,
            mesh_external=(spec.location or "MESH_EXTERNAL") == "MESH_EXTERNAL",
            export_to=export_to,
            labels=sorted_labels(entry.metadata.labels),
            registry="ServiceEntry",
            subject_alt_names=tuple(spec.subject_alt_names),
        )
        endpoints: list[ServiceEndpoint] = []
        for workload, port_map in instances:
            for port in ports:
                target = port_map.get(port.name)
                if target is None:
                    target = port.target_port if isinstance(port.target_port, int) else port.port
                endpoints.append(
                    ServiceEndpoint(
                        hostname=host,
                        service_port=port.port,
                        address=workload.address,
                        port=target,
                        workload=workload,
                    )
                )
        if not endpoints and resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
            # With no endpoints, DNS resolution targets the host itself.
            dns_host = Workload(
                name=host, namespace=entry.namespace, address=host, service_account=""
            )
            for port in ports:
                endpoints.append(
                    ServiceEndpoint(
                        hostname=host,
                        service_port=port.port,
                        address=host,
                        port=port.target_port if isinstance(port.target_port, int) else port.port,
                        workload=dns_host,
                    )
                )
        result.append((service, tuple(endpoints)))
    return tuple(result)


def _instances(
    entry: ServiceEntry, workloads: Iterable[Workload]
) -> list[tuple[Workload, dict[str, int]]]:
    spec = entry.spec
    if spec.workload_selector is not None:
        selector = spec.workload_selector.labels
        # A selected WorkloadEntry's ``ports`` (by port name) win over ``targetPort``.
        return [
            (w, dict(w.named_ports))
            for w in workloads
            if w.namespace == entry.namespace and labels_match(selector, w.label_map)
        ]
    found: list[tuple[Workload, dict[str, int]]] = []
    for index, endpoint in enumerate(spec.endpoints):
        workload = Workload(
            name=f"{entry.name}-{index}",
            namespace=entry.namespace,
            address=endpoint.address or "",
            labels=sorted_labels(endpoint.labels),
            service_account=endpoint.service_account or "",
            locality=endpoint.locality or "",
            weight=endpoint.weight or 1,
            network=endpoint.network or "",
        )
        found.append((workload, dict(endpoint.ports)))
    return found
