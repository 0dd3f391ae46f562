"""schema.ValidationAnalyzer: everything ``mainsail validate`` finds, as IST0106/IST0133.

Documents that did not parse and objects that break Istio's webhook rules are reported here, so
``analyze`` is a superset of ``validate``. The Mainsail code of each rule stays in the text.
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    SCHEMA_VALIDATION_ERROR,
    SCHEMA_WARNING,
    Message,
    ResourceRef,
)
from mainsail.config.errors import ConfigError
from mainsail.config.kube.secret import Secret
from mainsail.config.parse import DocumentOrigin
from mainsail.config.validation import validate


def _message(error: ConfigError, origin: DocumentOrigin | None) -> Message:
    detail = f"{error.reason} [{error.code}]"
    if error.path:
        detail = f"{error.path}: {detail}"
    resource = None
    if error.kind and error.name:
        resource = ResourceRef(
            kind=error.kind, namespace=error.namespace or "default", name=error.name
        )
    if origin is None and error.file:
        origin = DocumentOrigin(file=error.file, document=error.document or 0)
    return Message(
        type=SCHEMA_VALIDATION_ERROR if error.is_error else SCHEMA_WARNING,
        parameters=(detail,),
        resource=resource,
        origin=origin,
        path=error.path,
        line=origin.line_of(error.path) if origin is not None else 0,
    )


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for error in ctx.read_errors:
        # Documents that did not become objects still have a line when they were YAML mappings.
        yield _message(error, ctx.documents.get((error.file or "", error.document or 0)))
    for resource in ctx.resources:
        origin = ctx.origins.get(resource.key)
        if origin is None and isinstance(resource, Secret):
            # From the running mesh: validated when applied, and listed without key material.
            continue
        for error in validate(resource):
            yield _message(error, origin)


ANALYZER = Analyzer(
    name="schema.ValidationAnalyzer",
    description="Runs schema and Istio webhook validation on every object",
    run=_analyze,
)
