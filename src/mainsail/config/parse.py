"""Multi-document YAML → typed resources and config errors. Never raises on bad input.

Documents are split on ``---`` lines and parsed one by one, so a syntax error in one document
does not hide the others. Timestamps stay strings (as in Kubernetes' YAML→JSON conversion).
Field names must be the camelCase wire names (the proto's ``snake_case`` spellings are rejected,
as the CRD schema rejects them).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mainsail.config import field_path
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.schema import KindSchema, by_kind, lookup

YAML_SUFFIXES = (".yaml", ".yml", ".json")
_DOC_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$", re.MULTILINE)


_INDEX = re.compile(r"\[(\d+)\]\.?")


@functools.lru_cache(maxsize=64)
def _compose(text: str) -> yaml.Node | None:
    """One document's node tree (with marks); cached as several messages may name one document."""
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentOrigin:
    """Where a resource was read from: a file (or other source name) and 1-based document index.

    ``line`` is the 1-based line of the document's first key (0 when unknown). ``text`` is the
    document's own YAML, kept so ``line_of`` can name a field's line on demand: it is composed
    again only then (messages are rare; keeping every node tree alive would slow every parse
    with garbage-collector work and cost memory for the whole config).
    """

    file: str
    document: int
    line: int = 0
    first_line: int = field(default=0, compare=False, repr=False)
    text: str = field(default="", compare=False, repr=False)

    def line_of(self, path: str) -> int:
        """The line of the field at wire ``path`` (``spec.http[0].route``), or of its nearest
        parent that exists in the file; the document's line when nothing of it is found.

        Keys may contain dots (``metadata.annotations.sidecar.istio.io/inject``): a mapping's key
        is found by the longest one the rest of the path starts with.
        """
        node, line, rest = _compose(self.text) if self.text else None, self.line, path
        while rest:
            if isinstance(node, yaml.SequenceNode):
                index = _INDEX.match(rest)
                if index is None or int(index.group(1)) >= len(node.value):
                    break
                node = node.value[int(index.group(1))]
                line = self.first_line + node.start_mark.line + 1
                rest = rest[index.end() :]
            elif isinstance(node, yaml.MappingNode):
                pair = max(
                    (
                        (k, v)
                        for k, v in node.value
                        if isinstance(k.value, str)
                        and rest.startswith(k.value)
                        and rest[len(k.value) : len(k.value) + 1] in ("", ".", "[")
                    ),
                    key=lambda kv: len(kv[0].value),
                    default=None,
                )
                if pair is None:
                    break
                # A field's line is its key's: a nested mapping's value starts on the next line.
                line = self.first_line + pair[0].start_mark.line + 1
                node = pair[1]
                rest = rest[len(pair[0].value) :].removeprefix(".")
            else:
                break
        return line

    @property
    def reference(self) -> str:
        """``file:line`` as istioctl prints a resource's origin (``file`` alone without a line)."""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Parsed resources (with ``origins`` in the same order) and every error met on the way."""

    resources: tuple[Resource, ...] = ()
    errors: tuple[ConfigError, ...] = ()
    origins: tuple[DocumentOrigin, ...] = ()
    # Every mapping document read, parsed or not, so errors can be given a line.
    documents: tuple[DocumentOrigin, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(e.is_error for e in self.errors)

    def __add__(self, other: ParseResult) -> ParseResult:
        return ParseResult(
            self.resources + other.resources,
            self.errors + other.errors,
            self.origins + other.origins,
            self.documents + other.documents,
        )

    def origin_of(self, file: str | None, document: int | None) -> DocumentOrigin | None:
        """The document ``document`` of ``file``, as read, or None."""
        return next((d for d in self.documents if d.file == file and d.document == document), None)


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``2024-01-01`` stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _split(text: str) -> list[tuple[int, str]]:
    """Documents with the 0-based line where each starts."""
    chunks: list[tuple[int, str]] = []
    start, line = 0, 0
    for sep in _DOC_SEPARATOR.finditer(text):
        chunks.append((line, text[start : sep.start()]))
        line = text.count("\n", 0, sep.end()) + 1
        start = sep.end() + 1
    chunks.append((line, text[start:]))
    return chunks


_SCHEMA_CODES: Mapping[str, ErrorCode] = {
    "missing": ErrorCode.SCHEMA_REQUIRED,
    "extra_forbidden": ErrorCode.SCHEMA_UNKNOWN_FIELD,
    "literal_error": ErrorCode.SCHEMA_ENUM,
    "greater_than": ErrorCode.SCHEMA_RANGE,
    "greater_than_equal": ErrorCode.SCHEMA_RANGE,
    "less_than": ErrorCode.SCHEMA_RANGE,
    "less_than_equal": ErrorCode.SCHEMA_RANGE,
    "too_short": ErrorCode.SCHEMA_LENGTH,
    "too_long": ErrorCode.SCHEMA_LENGTH,
    "string_too_short": ErrorCode.SCHEMA_LENGTH,
    "string_too_long": ErrorCode.SCHEMA_LENGTH,
    "string_pattern_mismatch": ErrorCode.SCHEMA_PATTERN,
    "one_of": ErrorCode.SCHEMA_ONE_OF,
    "duration": ErrorCode.SCHEMA_DURATION,
}


def _schema_reason(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not one of {expected}"
    ctx = err.get("ctx", {})
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"must have {bound} {limit} item(s), has {ctx.get('actual_length')}"
    msg = err["msg"]
    if kind.endswith("_type") or kind in ("model_attributes_type", "dict_type"):
        return f"{msg.replace('Input should be', 'must be')} (got {type(err['input']).__name__})"
    return msg.replace("Input should be", "must be").replace("Value error, ", "")


def _schema_code(err: ErrorDetails) -> ErrorCode:
    kind = err["type"]
    if kind in _SCHEMA_CODES:
        return _SCHEMA_CODES[kind]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return ErrorCode.SCHEMA_TYPE
    return ErrorCode.SCHEMA_INVALID


def _check_envelope(doc: Mapping[Any, Any]) -> list[tuple[str, str, ErrorCode]]:
    problems: list[tuple[str, str, ErrorCode]] = []
    api_version = doc.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        problems.append(("apiVersion", "apiVersion is required", ErrorCode.NO_API_VERSION))
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        problems.append(("kind", "kind is required", ErrorCode.NO_KIND))
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping):
        problems.append(("metadata", "metadata with a name is required", ErrorCode.NO_NAME))
    elif not isinstance(meta.get("name"), str) or not meta.get("name"):
        problems.append(("metadata.name", "metadata.name is required", ErrorCode.NO_NAME))
    return problems


def _resolve_kind(kind: str, api_version: str) -> tuple[KindSchema | None, str, ErrorCode]:
    schema = by_kind(kind)
    if schema is None:
        near = lookup(kind)
        hint = f" (did you mean {near.kind}?)" if near else ""
        return None, f"unknown kind {kind!r}{hint}", ErrorCode.UNKNOWN_KIND
    if api_version not in schema.api_versions:
        accepted = ", ".join(schema.api_versions)
        reason = f"apiVersion {api_version!r} is not served for {kind}; use one of {accepted}"
        return None, reason, ErrorCode.UNKNOWN_API_VERSION
    return schema, "", ErrorCode.UNKNOWN_KIND


def _parse_one(
    doc: Mapping[Any, Any], default_namespace: str
) -> tuple[Resource | None, list[ConfigError], tuple[str | None, str | None, str | None]]:
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) else None
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    namespace = namespace or default_namespace
    ident = (kind, namespace, name)
    problems = _check_envelope(doc)
    if problems:
        return None, [ConfigError(path=p, reason=r, code=c) for p, r, c in problems], ident
    schema, reason, code = _resolve_kind(str(doc["kind"]), str(doc["apiVersion"]))
    if schema is None:
        path = "kind" if code is ErrorCode.UNKNOWN_KIND else "apiVersion"
        return None, [ConfigError(path=path, reason=reason, code=code)], ident
    body = dict(doc)
    if schema.namespaced:
        body["metadata"] = {**meta, "namespace": namespace}
    try:
        return schema.model.model_validate(body, by_name=False), [], ident
    except ValidationError as exc:
        errors = [
            ConfigError(
                path=field_path.render(schema.model, err["loc"]),
                reason=_schema_reason(err),
                code=_schema_code(err),
            )
            for err in exc.errors(include_url=False)
        ]
        return None, errors, ident


def parse_documents(text: str, source: str = "<input>", namespace: str = "default") -> ParseResult:
    """Parse every YAML document in ``text``; ``source`` names the file in errors.

    ``namespace`` is given to namespaced resources whose metadata has none.
    """
    resources: list[Resource] = []
    origins: list[DocumentOrigin] = []
    errors: list[ConfigError] = []
    documents: list[DocumentOrigin] = []
    for index, (first_line, chunk) in enumerate(_split(text), start=1):
        try:
            # Compose then construct (what yaml.load does): the node's mark is the document's line.
            loader = _Loader(chunk)
            try:
                node = loader.get_single_node()
                doc = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {first_line + mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            context, context_mark = (
                getattr(exc, "context", None),
                getattr(exc, "context_mark", None),
            )
            if context and context_mark is not None:
                problem += f" ({context} started at line {first_line + context_mark.line + 1})"
            errors.append(
                ConfigError(
                    file=source,
                    document=index,
                    reason=f"YAML syntax error{where}: {problem}",
                    code=ErrorCode.YAML,
                )
            )
            continue
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            errors.append(
                ConfigError(
                    file=source,
                    document=index,
                    reason=f"a document must be a mapping, not {type(doc).__name__}",
                    code=ErrorCode.NOT_MAPPING,
                )
            )
            continue
        assert node is not None  # a mapping document has a node
        origin = DocumentOrigin(
            file=source,
            document=index,
            line=first_line + node.start_mark.line + 1,
            first_line=first_line,
            text=chunk,
        )
        documents.append(origin)
        resource, doc_errors, (kind, ns, name) = _parse_one(doc, namespace)
        errors.extend(
            e.located(file=source, document=index, kind=kind, namespace=ns, name=name)
            for e in doc_errors
        )
        if resource is not None:
            resources.append(resource)
            origins.append(origin)
    return ParseResult(tuple(resources), tuple(errors), tuple(origins), tuple(documents))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    return [path]


def load_paths(paths: Iterable[str | Path], namespace: str = "default") -> ParseResult:
    """Parse files, and the ``.yaml``/``.yml``/``.json`` files under directories, in order."""
    result = ParseResult()
    for given in paths:
        path = Path(given)
        if not path.exists():
            missing = ConfigError(
                file=str(path), reason="no such file or directory", code=ErrorCode.READ
            )
            result += ParseResult(errors=(missing,))
            continue
        for file in _files(path):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                unreadable = ConfigError(
                    file=str(file), reason=f"cannot read: {exc}", code=ErrorCode.READ
                )
                result += ParseResult(errors=(unreadable,))
                continue
            result += parse_documents(text, str(file), namespace)
    return result
