"""Validate a spec snippet of one kind and return (code, path) pairs of its problems."""

from __future__ import annotations

import textwrap

from mainsail.config.errors import ConfigError
from mainsail.config.parse import parse_documents
from mainsail.config.validation import validate_all


def findings(kind: str, spec: str, *, warnings: bool = False) -> list[tuple[str, str]]:
    return [(e.code.value, e.path) for e in errors(kind, spec) if warnings or e.is_error]


def errors(kind: str, spec: str) -> tuple[ConfigError, ...]:
    text = (
        f"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata: {{name: t}}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec).strip(), '  ')}\n"
    )
    parsed = parse_documents(text, "t.yaml")
    assert parsed.errors == (), parsed.errors
    return validate_all(parsed)
