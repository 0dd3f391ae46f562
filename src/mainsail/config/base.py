"""The base of every wire model: frozen pydantic, camelCase on the wire, unknown fields rejected.

Attribute names are the snake_case forms of the proto/Kubernetes field names
(``ignoreUriCase`` → ``ignore_uri_case``); documents are parsed by alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A strict, immutable model of one object in a YAML document."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        strict=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The document form: camelCase keys, unset and empty (default) fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True, mode="json")


class ObjectMeta(WireModel):
    """Kubernetes object metadata; only what a mesh reads is modelled, the rest is tolerated."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    namespace: str | None = None
    labels: Mapping[str, str] = Field(default_factory=dict)
    annotations: Mapping[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    resource_version: str | None = None
    generation: int | None = None


class Resource(WireModel):
    """One config object: the Kubernetes envelope around a kind-specific ``spec``.

    Subclasses narrow ``spec`` to their kind's model. ``namespace`` is resolved at parse time
    (``default`` when the document has none).
    """

    model_config = ConfigDict(extra="ignore")

    api_version: str
    kind: str
    metadata: ObjectMeta

    def to_wire(self) -> dict[str, Any]:
        """The document form; ``apiVersion`` and ``kind`` are always written."""
        return {"apiVersion": self.api_version, "kind": self.kind, **super().to_wire()}

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity in the store: (kind, namespace, name)."""
        return (self.kind, self.namespace, self.metadata.name)
