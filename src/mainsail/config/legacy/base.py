"""The base of the legacy wire models: unknown fields are kept, not rejected.

Istio 1.0-1.5 decoded these CRDs with ``gogoprotomarshal.ApplyJSON``, which retries with
``AllowUnknownFields`` when strict decoding fails: a misplaced or misspelt field was silently
ignored. We accept the same documents, and ``unknown_fields`` lets validation warn about each one
(the book's ``peers: [{mtls: , mode: STRICT}]`` indentation slip is such a field).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from mainsail.config.base import WireModel


class LegacyModel(WireModel):
    model_config = ConfigDict(extra="allow")


def unknown_fields(model: BaseModel, path: str) -> list[str]:
    """Wire paths of every field Istio would have ignored in ``model`` and below."""
    found = [f"{path}.{key}" for key in (model.model_extra or {})]
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        wire = f"{path}.{info.serialization_alias or info.alias or name}"
        if isinstance(value, BaseModel):
            found += unknown_fields(value, wire)
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += unknown_fields(item, f"{wire}[{i}]")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    found += unknown_fields(item, f"{wire}[{key}]")
    return found
