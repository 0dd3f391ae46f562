"""Pick the validator for a resource's kind and place its errors in their documents."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.parse import ParseResult

Validator = Callable[[Any], list[ConfigError]]


def _validators() -> Mapping[str, Validator]:
    return {}


def validate(resource: Resource) -> tuple[ConfigError, ...]:
    """Istio's semantic rules for one resource; empty when it is valid."""
    check = _validators().get(resource.kind)
    if check is None:
        return ()
    return tuple(
        e.located(
            file=None,
            document=None,
            kind=resource.kind,
            namespace=resource.namespace,
            name=resource.name,
        )
        for e in check(resource)
    )


def validate_all(parsed: ParseResult) -> tuple[ConfigError, ...]:
    """Validate every resource of ``parsed``; errors carry their file and document."""
    found: list[ConfigError] = []
    origins = parsed.origins or (None,) * len(parsed.resources)
    for resource, origin in zip(parsed.resources, origins, strict=True):
        for error in validate(resource):
            if origin is not None:
                error = error.located(
                    file=origin.file, document=origin.document, kind=None, namespace=None, name=None
                )
            found.append(error)
    return tuple(found)
