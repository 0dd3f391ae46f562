"""Render a pydantic error location as a wire field path: ``spec.http[0].match[0].headers[x-user]``.

Segments are walked alongside the model's types, so list indexes become ``[i]``, map keys
``[key]`` and fields keep the camelCase name the document used.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional wrappers down to the type that carries structure."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _field_type(model: type[BaseModel], segment: str) -> Any:
    for name, info in model.model_fields.items():
        if segment in (name, info.alias):
            return info.annotation
        choices = getattr(info.validation_alias, "choices", ())
        if segment in choices:
            return info.annotation
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def render(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str:
    """Join ``loc`` into a dotted path, bracketing indexes and map keys."""
    out = ""
    current: Any = model
    for segment in loc:
        tp = _unwrap(current)
        origin = get_origin(tp)
        if isinstance(segment, int):
            out += f"[{segment}]"
            args = get_args(tp)
            current = args[0] if args else None
        elif _is_model(tp):
            out += f".{segment}" if out else segment
            current = _field_type(tp, segment)
        elif origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
            out += f"[{segment}]"
            args = get_args(tp)
            current = args[1] if len(args) == 2 else None
        else:
            out += f".{segment}" if out else segment
            current = None
    return out
