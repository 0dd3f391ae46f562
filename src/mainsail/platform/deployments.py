"""Deployments (and the Services that select them) → the PodSpecs of the local platform.

Pure: addresses and private app ports come from the ``PodAllocator`` passed in (in production
``PodAllocations``, which persists them; in tests any fake).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from mainsail import naming
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Container, Deployment
from mainsail.platform.errors import PodSpecError
from mainsail.platform.pod import ContainerPortSpec, ContainerSpec, PodSpec, ProxyPorts, ProxyType

# Istio's gateway injection: a pod template with this annotation gets a gateway proxy, no app.
ROUTER_TEMPLATE_ANNOTATION = "inject.istio.io/templates"
_ROUTER_TEMPLATE = "gateway"
# Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class PodAllocator(Protocol):
    def address(self, pod_key: str) -> str: ...

    def app_port(self, pod_key: str, container_port: int) -> int: ...


def pod_name(deployment: str, namespace: str, index: int) -> str:
    """``<deployment>-<5-char stable hash>-<replica index>``, e.g. ``reviews-v1-x7k2p-0``."""
    digest = hashlib.sha256(f"{namespace}/{deployment}".encode()).digest()
    suffix = "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:5])
    return f"{deployment}-{suffix}-{index}"


def pods_from_deployments(
    deployments: Iterable[Deployment],
    allocator: PodAllocator,
    *,
    services: Iterable[Service] = (),
    proxy_ports: ProxyPorts | None = None,
) -> tuple[PodSpec, ...]:
    service_list = tuple(services)
    pods: list[PodSpec] = []
    for deployment in deployments:
        pods.extend(
            pods_from_deployment(
                deployment, allocator, services=service_list, proxy_ports=proxy_ports
            )
        )
    return tuple(pods)


def pods_from_deployment(
    deployment: Deployment,
    allocator: PodAllocator,
    *,
    services: Iterable[Service] = (),
    proxy_ports: ProxyPorts | None = None,
) -> tuple[PodSpec, ...]:
    where = f"Deployment/{deployment.namespace}/{deployment.name}"
    template = deployment.spec.template
    labels = dict(template.metadata.labels)
    annotations = dict(template.metadata.annotations)
    proxy_type = _proxy_type(annotations)
    if proxy_type == "sidecar":
        # Istio's sidecar injection template: ``security.istio.io/tlsMode`` defaults to
        # ``istio`` (a value the pod sets is kept); auto mTLS keys on it. Its gateway template
        # does not add it, so gateways get none.
        labels.setdefault(naming.TLS_MODE_LABEL, naming.TLS_MODE_ISTIO)
    containers = () if proxy_type == "router" else _containers(template.spec.containers, where)
    declared = _declared_ports(containers, where)
    targeted = _service_target_ports(services, deployment.namespace, labels, containers)
    pods: list[PodSpec] = []
    for index in range(deployment.spec.replicas):
        name = pod_name(deployment.name, deployment.namespace, index)
        key = f"{deployment.namespace}.{name}"
        app_ports = (
            {}
            if proxy_type == "router"
            else {port: allocator.app_port(key, port) for port in sorted(declared | targeted)}
        )
        pods.append(
            PodSpec(
                name=name,
                namespace=deployment.namespace,
                ip=allocator.address(key),
                workload_name=deployment.name,
                labels=labels,
                annotations=annotations,
                service_account=template.spec.service_account_name or "default",
                proxy_type=proxy_type,
                containers=containers,
                app_ports=app_ports,
                proxy_ports=proxy_ports or ProxyPorts(),
            )
        )
    return tuple(pods)


def _proxy_type(annotations: Mapping[str, str]) -> ProxyType:
    templates = annotations.get(ROUTER_TEMPLATE_ANNOTATION, "")
    names = {t.strip() for t in templates.split(",")}
    return "router" if _ROUTER_TEMPLATE in names else "sidecar"


def _containers(containers: Iterable[Container], where: str) -> tuple[ContainerSpec, ...]:
    result: list[ContainerSpec] = []
    for i, container in enumerate(containers):
        if not (container.command or container.args):
            raise PodSpecError(
                f"{where}.spec.template.spec.containers[{i}].command",
                "the local platform runs a container's command/args; none given",
            )
        result.append(
            ContainerSpec(
                name=container.name,
                command=container.command,
                args=container.args,
                env={var.name: var.value for var in container.env},
                ports=tuple(
                    ContainerPortSpec(
                        container_port=p.container_port, name=p.name, protocol=p.protocol
                    )
                    for p in container.ports
                ),
                working_dir=container.working_dir,
            )
        )
    return tuple(result)


def _declared_ports(containers: Iterable[ContainerSpec], where: str) -> set[int]:
    seen: set[int] = set()
    for i, container in enumerate(containers):
        for j, port in enumerate(container.ports):
            if port.container_port in seen:
                raise PodSpecError(
                    f"{where}.spec.template.spec.containers[{i}].ports[{j}].containerPort",
                    f"port {port.container_port} is declared twice in the pod",
                )
            seen.add(port.container_port)
    return seen


def _service_target_ports(
    services: Iterable[Service],
    namespace: str,
    labels: Mapping[str, str],
    containers: Iterable[ContainerSpec],
) -> set[int]:
    """Ports that Services selecting the pod send to: the sidecar must own them too."""
    by_name = {p.name: p.container_port for c in containers for p in c.ports if p.name}
    ports: set[int] = set()
    for service in services:
        selector = service.spec.selector
        if service.namespace != namespace or not selector:
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        for port in service.spec.ports:
            if port.protocol != "TCP":
                continue
            target = port.target_port
            if target is None:
                ports.add(port.port)
            elif isinstance(target, int) or target.isdigit():
                ports.add(int(target))
            elif target in by_name:
                ports.add(by_name[target])
    return ports
