"""What a legacy conversion could not carry over, and the Services it resolves targets with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mainsail.config.base import Resource
from mainsail.config.kube.service import Service

# Istio's migration tool wrote its explanation into this annotation; so do we, so that a converted
# policy says where it came from (``mainsail get`` and the dashboard show annotations).
CONVERTED_FROM = "security.istio.io/alpha-policy-convert"

ServiceIndex = Mapping[tuple[str, str], Service]


@dataclass(frozen=True, slots=True)
class ConversionNote:
    """``error``: the result differs from what Istio enforced; ``warning``: informational."""

    level: Literal["error", "warning"]
    source: str  # "Kind namespace/name" of the legacy document
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.source}: {self.message}"


def source_of(resource: Resource) -> str:
    namespace = resource.metadata.namespace
    where = f"{namespace}/{resource.name}" if namespace else resource.name
    return f"{resource.kind} {where}"


def index_services(resources: Iterable[Resource]) -> dict[tuple[str, str], Service]:
    """Kubernetes Services by (namespace, name)."""
    return {(r.namespace, r.name): r for r in resources if isinstance(r, Service)}


def converted_metadata(source: Resource, name: str, namespace: str, comment: str) -> dict[str, Any]:
    """Metadata of a converted object: its own name, the source's creation time (so that
    oldest-wins among converted policies follows the originals) and the explanation."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "annotations": {CONVERTED_FROM: comment},
    }
    if source.metadata.creation_timestamp is not None:
        meta["creationTimestamp"] = source.metadata.creation_timestamp.isoformat()
    return meta
