"""Run every analyzer over a set of resources; the one entry point the CLI calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.analyzers import (
    authorization_policies,
    ca_certificates,
    conflicting_gateways,
    conflicting_hosts,
    deployment_services,
    deprecation,
    destination_credentials,
    destination_hosts,
    destination_subsets,
    gateway_certificates,
    gateway_credentials,
    gateway_workloads,
    istio_annotations,
    jwt_claim_routes,
    mesh_binding,
    port_names,
    schema,
    service_entry_addresses,
    shadowed_hosts,
    sidecar_local_fields,
    sidecar_selectors,
    subset_workloads,
    unreachable_routes,
    virtual_service_gateways,
)
from mainsail.analysis.context import ResourceKey, build_context
from mainsail.analysis.messages import Level, Message
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import DocumentOrigin

ANALYZERS: tuple[Analyzer, ...] = (
    schema.ANALYZER,
    destination_hosts.ANALYZER,
    destination_subsets.ANALYZER,
    subset_workloads.ANALYZER,
    virtual_service_gateways.ANALYZER,
    mesh_binding.ANALYZER,
    conflicting_hosts.ANALYZER,
    shadowed_hosts.ANALYZER,
    unreachable_routes.ANALYZER,
    port_names.ANALYZER,
    gateway_workloads.ANALYZER,
    destination_credentials.ANALYZER,
    conflicting_gateways.ANALYZER,
    istio_annotations.ANALYZER,
    sidecar_selectors.SELECTOR_ANALYZER,
    sidecar_selectors.DEFAULT_SELECTOR_ANALYZER,
    authorization_policies.ANALYZER,
    sidecar_local_fields.ANALYZER,
    ca_certificates.ANALYZER,
    service_entry_addresses.ANALYZER,
    deployment_services.ANALYZER,
    gateway_certificates.ANALYZER,
    gateway_credentials.ANALYZER,
    deprecation.ANALYZER,
    jwt_claim_routes.ANALYZER,
)


def analyze(
    resources: Iterable[Resource],
    *,
    origins: Mapping[ResourceKey, DocumentOrigin] | None = None,
    read_errors: Iterable[ConfigError] = (),
    documents: Iterable[DocumentOrigin] = (),
    namespace: str | None = None,
    mesh: MeshConfig | None = None,
    analyzers: Iterable[Analyzer] = ANALYZERS,
) -> tuple[Message, ...]:
    """Every message about ``resources``, worst first, then by resource, then in analyzer order.

    All resources are context; only messages about objects in ``namespace`` are kept (all when
    None), like ``istioctl analyze -n``. Messages about unparsable documents are always kept.
    """
    ctx = build_context(
        resources, origins=origins, read_errors=read_errors, documents=documents, mesh=mesh
    )
    found: list[Message] = []
    for analyzer in analyzers:
        for message in analyzer.run(ctx):
            if (
                namespace is None
                or message.resource is None
                or (message.resource.namespace == namespace)
            ):
                found.append(message)
    unique = list(dict.fromkeys(found))
    return tuple(sorted(unique, key=_order))


def _order(message: Message) -> tuple[int, str, str]:
    ref = message.resource
    return (
        -message.level.rank,
        ref.kind if ref else "",
        f"{ref.namespace}/{ref.name}" if ref else "",
    )


def worst(messages: Iterable[Message]) -> Level | None:
    """The most severe level among ``messages``, or None when there are none."""
    levels = [m.level for m in messages]
    return max(levels, key=lambda level: level.rank) if levels else None
