"""Kubernetes Services and Pods → mesh services and endpoints.

The local platform and Kubernetes mode share this conversion: the platform reports its pods as
``Pod`` objects with ``status.podIP``, exactly what a Kubernetes API server would hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Pod
from mainsail.naming import build_service_fqdn
from mainsail.registry.model import (
    MeshService,
    Resolution,
    ServiceEndpoint,
    ServicePort,
    Workload,
    labels_match,
    sorted_labels,
)
from mainsail.registry.protocol import protocol_of_kube_port

EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"


def service_from_kube(service: Service, domain: str = "cluster.local") -> MeshService:
    spec = service.spec
    ports = tuple(
        ServicePort(
            name=p.name or str(p.port),
            port=p.port,
            protocol=protocol_of_kube_port(
                name=p.name, port=p.port, transport=p.protocol, app_protocol=p.app_protocol
            ),
            target_port=p.target_port,
        )
        for p in spec.ports
    )
    headless = spec.cluster_ip == "None"
    export = service.metadata.annotations.get(EXPORT_TO_ANNOTATION)
    return MeshService(
        hostname=build_service_fqdn(service.name, service.namespace, domain),
        name=service.name,
        namespace=service.namespace,
        ports=ports,
        addresses=(spec.cluster_ip,) if spec.cluster_ip and not headless else (),
        resolution=Resolution.PASSTHROUGH if headless else Resolution.CLIENT_SIDE_LB,
        export_to=frozenset(x.strip() for x in export.split(",")) if export else frozenset({"*"}),
        labels=sorted_labels(service.metadata.labels),
        registry="Kubernetes",
    )


def workload_from_pod(pod: Pod) -> Workload | None:
    """The pod as a workload, or None while it has no address."""
    if not pod.status.pod_ip:
        return None
    named = tuple(
        (port.name, port.container_port)
        for container in pod.spec.containers
        for port in container.ports
        if port.name
    )
    return Workload(
        name=pod.name,
        namespace=pod.namespace,
        address=pod.status.pod_ip,
        labels=sorted_labels(pod.metadata.labels),
        service_account=pod.spec.service_account_name or "default",
        named_ports=named,
        locality=locality_from_labels(pod.metadata.labels),
    )


REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
ISTIO_LOCALITY_LABEL = "istio-locality"


def locality_from_labels(labels: Mapping[str, str]) -> str:
    """``region/zone/subzone`` from a pod's labels, as istiod reads them: the ``istio-locality``
    label (``region.zone.subzone``) first, else the topology labels (on Kubernetes they come from
    the node; on the local platform the pod carries them)."""
    legacy = labels.get(ISTIO_LOCALITY_LABEL)
    if legacy:
        return legacy.replace(".", "/")
    parts = [
        labels.get(REGION_LABEL, ""),
        labels.get(ZONE_LABEL, ""),
        labels.get(SUBZONE_LABEL, ""),
    ]
    while parts and not parts[-1]:
        parts.pop()
    return "/".join(parts)


def _target_port(port: ServicePort, workload: Workload) -> int | None:
    if port.target_port is None:
        return port.port
    if isinstance(port.target_port, int):
        return port.target_port
    if port.target_port.isdigit():
        return int(port.target_port)
    return dict(workload.named_ports).get(port.target_port)


def endpoints_from_kube(
    service: Service, mesh_service: MeshService, workloads: Iterable[Workload]
) -> tuple[ServiceEndpoint, ...]:
    """Endpoints of a selector-based Service: every workload in its namespace it selects."""
    selector = service.spec.selector
    if not selector:
        return ()
    found: list[ServiceEndpoint] = []
    for workload in workloads:
        if workload.namespace != service.namespace or not labels_match(
            selector, workload.label_map
        ):
            continue
        for port in mesh_service.ports:
            target = _target_port(port, workload)
            if target is None:
                continue
            found.append(
                ServiceEndpoint(
                    hostname=mesh_service.hostname,
                    service_port=port.port,
                    address=workload.address,
                    port=target,
                    workload=workload,
                )
            )
    return tuple(found)
