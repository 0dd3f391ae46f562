"""MeshSnapshot: one immutable picture of the mesh, built whole by ``build_snapshot``.

It holds the registry (services, endpoints, workloads) and the Istio config, with the indexes
translation needs. No locks, no metrics, no connections: those live with the ADS server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mainsail.config.base import Resource
from mainsail.config.istio.destination_rule import DestinationRule
from mainsail.config.istio.gateway import Gateway
from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.istio.telemetry import Telemetry
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.config.istio.workload_entry import WorkloadEntry
from mainsail.config.kube.secret import Secret, TlsCredential, credential_of
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Pod
from mainsail.config.mesh import MeshConfig
from mainsail.config.mixer.resolve import ResolvedRule, resolve_rules
from mainsail.registry.kube import endpoints_from_kube, service_from_kube, workload_from_pod
from mainsail.registry.model import MeshService, ServiceEndpoint, Workload
from mainsail.registry.service_entry import services_from_service_entry
from mainsail.registry.workload_entry import workload_from_entry
from mainsail.snapshot.delegates import merge_delegates
from mainsail.snapshot.hosts import resolve_short_name
from mainsail.snapshot.security_index import SecurityIndex, build_security_index

EndpointKey = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshSnapshot:
    mesh: MeshConfig
    services: Mapping[str, MeshService]
    endpoints: Mapping[EndpointKey, tuple[ServiceEndpoint, ...]]
    workloads: tuple[Workload, ...]
    # Oldest first; delegates merged into their roots (``snapshot.delegates``) and left out.
    virtual_services: tuple[VirtualService, ...]
    destination_rules: tuple[DestinationRule, ...]
    gateways: tuple[Gateway, ...]
    # Oldest first (selection picks the oldest match).
    sidecars: tuple[Sidecar, ...] = ()
    # RequestAuthentication key sets the control plane fetched (``jwksUri``, or the issuer when
    # keys come from OpenID discovery) → JWKS text to inline. Filled by the control plane's
    # fetcher (``runtime.jwks``), so translation stays pure; a missing entry is a failed fetch.
    jwks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Indexes (derived in ``build_snapshot``): per-proxy lookups must not scan the mesh.
    endpoints_by_address: Mapping[str, tuple[ServiceEndpoint, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    workloads_by_address: Mapping[str, Workload] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # DestinationRules by (namespace, resolved exact host), and each namespace's wildcard rules
    # with their resolved hosts; oldest first. Every route destination and cluster looks a rule
    # up: scanning them all made 1000 services x 10 routes take minutes.
    rules_by_host: Mapping[tuple[str, str], tuple[DestinationRule, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    wildcard_rules: Mapping[str, tuple[tuple[str, DestinationRule], ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # Rules with a ``workloadSelector``, by namespace (asked once per proxy and push).
    selector_rules: Mapping[str, tuple[DestinationRule, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # PeerAuthentication, RequestAuthentication, AuthorizationPolicy by namespace, and the legacy
    # policies converted to them (resolved per workload in ``snapshot.security``).
    security: SecurityIndex = field(default_factory=SecurityIndex)
    # Telemetry resources, oldest first (resolved per proxy in ``snapshot.telemetry``).
    telemetries: tuple[Telemetry, ...] = ()
    # The book's Mixer rules with their handlers and instances (compiled by ``xds.mixer``).
    mixer_rules: tuple[ResolvedRule, ...] = ()
    # The TLS credentials of Secrets, by (namespace, name): what ``credentialName`` reads
    # (served over ADS by ``xds.credentials``).
    credentials: Mapping[tuple[str, str], TlsCredential] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def endpoints_of(self, hostname: str, port: int) -> tuple[ServiceEndpoint, ...]:
        return self.endpoints.get((hostname, port), ())

    def endpoints_at(self, address: str) -> tuple[ServiceEndpoint, ...]:
        return self.endpoints_by_address.get(address, ())

    def workload_at(self, address: str) -> Workload | None:
        return self.workloads_by_address.get(address)

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
    found_workloads = [
        w for r in items if isinstance(r, Pod) if (w := workload_from_pod(r)) is not None
    ] + [
        w
        for r in items
        if isinstance(r, WorkloadEntry)
        if (w := workload_from_entry(r)) is not None
    ]
    workloads = tuple(sorted(found_workloads, key=lambda w: (w.namespace, w.name)))
    services: dict[str, MeshService] = {}
    endpoints: dict[EndpointKey, list[ServiceEndpoint]] = {}
    by_label = _workloads_by_label(workloads)
    for kube_service in kube_services:
        mesh_service = service_from_kube(kube_service, mesh.domain)
        services[mesh_service.hostname] = mesh_service
        candidates = _selected_candidates(kube_service, by_label)
        for endpoint in endpoints_from_kube(kube_service, mesh_service, candidates):
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
    by_address: dict[str, list[ServiceEndpoint]] = {}
    for key in sorted(endpoints):
        for endpoint in endpoints[key]:
            by_address.setdefault(endpoint.address, []).append(endpoint)
    return MeshSnapshot(
        mesh=mesh,
        services=MappingProxyType(dict(sorted(services.items()))),
        endpoints=MappingProxyType(
            {
                key: tuple(sorted(found, key=lambda e: (e.address, e.port)))
                for key, found in endpoints.items()
            }
        ),
        endpoints_by_address=MappingProxyType({a: tuple(e) for a, e in by_address.items()}),
        workloads_by_address=MappingProxyType({w.address: w for w in reversed(workloads)}),
        workloads=workloads,
        **routing_fields(items, mesh.domain),
        gateways=tuple(sorted((r for r in items if isinstance(r, Gateway)), key=_creation_order)),
        sidecars=tuple(sorted((r for r in items if isinstance(r, Sidecar)), key=_creation_order)),
        security=build_security_index(items, mesh.root_namespace),
        mixer_rules=resolve_rules(items),
        telemetries=tuple(
            sorted((r for r in items if isinstance(r, Telemetry)), key=_creation_order)
        ),
        credentials=MappingProxyType(
            {(r.namespace, r.name): credential_of(r) for r in items if isinstance(r, Secret)}
        ),
    )


def routing_fields(resources: Iterable[Resource], domain: str) -> dict[str, Any]:
    """The snapshot's fields read from VirtualServices and DestinationRules only (and nothing
    else reads them): what ``snapshot.incremental`` rebuilds when only those kinds changed."""
    items = list(resources)
    destination_rules = tuple(
        sorted((r for r in items if isinstance(r, DestinationRule)), key=_creation_order)
    )
    return {
        "virtual_services": merge_delegates(
            sorted((r for r in items if isinstance(r, VirtualService)), key=_creation_order),
            domain,
        ),
        "destination_rules": destination_rules,
        **_destination_rule_index(destination_rules, domain),
    }


def _destination_rule_index(
    rules: tuple[DestinationRule, ...], domain: str
) -> dict[str, Mapping[Any, Any]]:
    exact: dict[tuple[str, str], list[DestinationRule]] = {}
    wildcard: dict[str, list[tuple[str, DestinationRule]]] = {}
    selecting: dict[str, list[DestinationRule]] = {}
    for rule in rules:
        if rule.spec.workload_selector is not None:
            selecting.setdefault(rule.namespace, []).append(rule)
        host = resolve_short_name(rule.spec.host, rule.namespace, domain)
        if host.startswith("*"):
            wildcard.setdefault(rule.namespace, []).append((host, rule))
        else:
            exact.setdefault((rule.namespace, host), []).append(rule)
    return {
        "rules_by_host": MappingProxyType({k: tuple(v) for k, v in exact.items()}),
        "wildcard_rules": MappingProxyType({k: tuple(v) for k, v in wildcard.items()}),
        "selector_rules": MappingProxyType({k: tuple(v) for k, v in selecting.items()}),
    }


def _workloads_by_label(
    workloads: tuple[Workload, ...],
) -> dict[tuple[str, str, str], list[Workload]]:
    """(namespace, label key, value) -> workloads, in order: selecting endpoints scans each
    Service's candidates only, not every workload (1000 services x 1000 pods took 1.4 s)."""
    index: dict[tuple[str, str, str], list[Workload]] = {}
    for workload in workloads:
        for key, value in workload.labels:
            index.setdefault((workload.namespace, key, value), []).append(workload)
    return index


def _selected_candidates(
    service: Service, by_label: Mapping[tuple[str, str, str], list[Workload]]
) -> tuple[Workload, ...]:
    """Workloads carrying one of the selector's labels (a superset of those it selects)."""
    selector = service.spec.selector
    if not selector:
        return ()  # a Service without a selector has no endpoints from workloads
    key, value = min(selector.items())
    return tuple(by_label.get((service.namespace, key, value), ()))


def resolve_hosts(hosts: Iterable[str], namespace: str, domain: str) -> tuple[str, ...]:
    return tuple(resolve_short_name(h, namespace, domain) for h in hosts)
