"""AnalysisContext: what every analyzer reads, built once from the resources being analyzed.

It is the snapshot (services by FQDN with ports and protocols, the Istio config) plus what the
data plane's snapshot leaves out and analysis needs: where each object was read from, and every
workload that *would* run, whether or not it has an address yet. Offline, a Deployment's pod
template counts as a workload (``istioctl analyze`` reads pods from the cluster; files usually
hold Deployments).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from mainsail.analysis.messages import Message, MessageType, ResourceRef
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.istio.workload_entry import WorkloadEntry
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Deployment, Pod
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import DocumentOrigin
from mainsail.naming import build_service_fqdn
from mainsail.registry.model import MeshService, labels_match
from mainsail.snapshot.hosts import host_matches, hosts_intersect, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.view import exported_to

R = TypeVar("R", bound=Resource)
ResourceKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadInstance:
    """Something that runs with labels: a Pod, a Deployment's pod template or a WorkloadEntry."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisContext:
    resources: tuple[Resource, ...]
    origins: Mapping[ResourceKey, DocumentOrigin]
    # Problems met before analysis: documents that did not parse.
    read_errors: tuple[ConfigError, ...]
    # Every document read, by (file, document index): gives unparsable documents a line.
    documents: Mapping[tuple[str, int], DocumentOrigin]
    snapshot: MeshSnapshot
    workloads: tuple[WorkloadInstance, ...]
    # Service hostname -> the object that defines it (a Service or a ServiceEntry).
    service_sources: Mapping[str, Resource]

    @property
    def domain(self) -> str:
        return self.snapshot.mesh.domain

    def of_kind(self, model: type[R]) -> tuple[R, ...]:
        return tuple(r for r in self.resources if isinstance(r, model))

    def fqdn(self, host: str, namespace: str) -> str:
        return resolve_short_name(host, namespace, self.domain)

    def message(
        self, type_: MessageType, *parameters: object, resource: Resource, path: str = ""
    ) -> Message:
        origin = self.origins.get(resource.key)
        return Message(
            type=type_,
            parameters=tuple(str(p) for p in parameters),
            resource=ResourceRef(
                kind=resource.kind, namespace=resource.namespace, name=resource.name
            ),
            origin=origin,
            path=path,
            line=origin.line_of(path) if origin is not None else 0,
        )

    def find_services(self, host: str, namespace: str) -> tuple[MeshService, ...]:
        """Services visible from ``namespace`` that ``host`` (short, FQDN or wildcard) names.

        An exact host finds its service, or a wildcard ServiceEntry covering it; a wildcard host
        finds every service it covers.
        """
        fqdn = self.fqdn(host, namespace)
        visible = [
            s
            for s in self.snapshot.services.values()
            if exported_to(s.export_to, s.namespace, namespace)
        ]
        if fqdn.startswith("*"):
            return tuple(s for s in visible if hosts_intersect(fqdn, s.hostname))
        exact = tuple(s for s in visible if s.hostname == fqdn)
        if exact:
            return exact
        return tuple(
            s for s in visible if s.hostname.startswith("*") and host_matches(s.hostname, fqdn)
        )

    def backing_workloads(self, service: MeshService) -> tuple[WorkloadInstance, ...] | None:
        """The workloads behind a service, or None when that cannot be known (no selector)."""
        source = self.service_sources.get(service.hostname)
        if isinstance(source, Service):
            selector = source.spec.selector
            if not selector:
                return None
            return self._selected(selector, source.namespace)
        if isinstance(source, ServiceEntry):
            if source.spec.workload_selector is not None:
                return self._selected(source.spec.workload_selector.labels, source.namespace)
            return tuple(
                WorkloadInstance(
                    kind="ServiceEntry endpoint",
                    namespace=source.namespace,
                    name=f"{source.name}[{index}]",
                    labels=endpoint.labels,
                )
                for index, endpoint in enumerate(source.spec.endpoints)
            )
        return None

    def selected_workloads(
        self, selector: Mapping[str, str], namespace: str | None = None
    ) -> tuple[WorkloadInstance, ...]:
        """Workloads whose labels include ``selector`` (in ``namespace``, or any when None)."""
        return self._selected(selector, namespace)

    def _selected(
        self, selector: Mapping[str, str], namespace: str | None
    ) -> tuple[WorkloadInstance, ...]:
        return tuple(
            w
            for w in self.workloads
            if (namespace is None or w.namespace == namespace) and labels_match(selector, w.labels)
        )


def _workloads(resources: Iterable[Resource]) -> tuple[WorkloadInstance, ...]:
    found: list[WorkloadInstance] = []
    for r in resources:
        if isinstance(r, Pod):
            labels: Mapping[str, str] = r.metadata.labels
        elif isinstance(r, Deployment):
            labels = r.spec.template.metadata.labels
        elif isinstance(r, WorkloadEntry):
            labels = r.spec.labels
        else:
            continue
        found.append(
            WorkloadInstance(
                kind=r.kind, namespace=r.namespace, name=r.name, labels=MappingProxyType(labels)
            )
        )
    return tuple(found)


def build_context(
    resources: Iterable[Resource],
    *,
    origins: Mapping[ResourceKey, DocumentOrigin] | None = None,
    read_errors: Iterable[ConfigError] = (),
    documents: Iterable[DocumentOrigin] = (),
    mesh: MeshConfig | None = None,
) -> AnalysisContext:
    items = tuple(resources)
    snapshot = build_snapshot(items, mesh)
    sources: dict[str, Resource] = {}
    for r in items:
        if isinstance(r, ServiceEntry):
            for host in r.spec.hosts:
                sources.setdefault(host, r)
    for r in items:
        if isinstance(r, Service):
            # Kubernetes Services win over a ServiceEntry for the same host, as in the snapshot.
            sources[build_service_fqdn(r.name, r.namespace, snapshot.mesh.domain)] = r
    return AnalysisContext(
        resources=items,
        origins=MappingProxyType(dict(origins or {})),
        read_errors=tuple(read_errors),
        documents=MappingProxyType({(d.file, d.document): d for d in documents}),
        snapshot=snapshot,
        workloads=_workloads(items),
        service_sources=MappingProxyType(sources),
    )
