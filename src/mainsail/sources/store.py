"""The control plane's config store: every applied object, persisted so a restart loses nothing.

``apply`` is all-or-nothing: a batch with any error changes nothing. Objects are kept as parsed
models; the file on disk is the multi-document YAML of their wire form, re-read with the same
parser at start. Its first line records the store's revision, so resource versions keep
growing across restarts even after the newest objects were deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml

from mainsail import monitoring
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError, has_errors
from mainsail.config.parse import ParseResult, parse_documents

Key = tuple[str, str, str]
Outcome = Literal["created", "configured", "unchanged", "deleted", "not found"]
Validator = Callable[[ParseResult], tuple[ConfigError, ...]]

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it
_REVISION_LINE = re.compile(r"^# mainsail store revision: (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Change:
    key: Key
    outcome: Outcome


class ConfigRejectedError(Exception):
    """A batch had errors; nothing was changed."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = tuple(errors)


class StoreFileError(Exception):
    """The persisted store cannot be read back whole; nothing is loaded (and nothing dropped)."""


def _spec_form(resource: Resource) -> dict[str, object]:
    """What makes two versions of an object different (metadata bookkeeping aside)."""
    wire = resource.to_wire()
    meta = dict(wire.get("metadata", {}))
    for field in ("creationTimestamp", "resourceVersion", "generation"):
        meta.pop(field, None)
    wire["metadata"] = meta
    return wire


class ConfigStore:
    def __init__(self, path: Path | None = None, validator: Validator | None = None) -> None:
        self._path = path
        self._validator = validator
        self._objects: dict[Key, Resource] = {}
        self._revision = 0
        self._listeners: list[Callable[[], None]] = []
        # Each object's YAML document, kept with the instance it was written from: a change
        # re-writes the file, but only changed objects are dumped again (dumping 4000 objects
        # took ~3 s per change).
        self._documents: dict[Key, tuple[Resource, str]] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreFileError(f"{path}: cannot read the config store: {exc}") from exc
        loaded = parse_documents(text, str(path))
        if loaded.errors:
            # Starting with part of the config would drop the rest at the next write.
            problems = "\n".join(f"  {e}" for e in loaded.errors)
            raise StoreFileError(
                f"{path}: the config store has errors; fix or move the file away:\n{problems}"
            )
        for resource in loaded.resources:
            self._objects[resource.key] = resource
        recorded = _REVISION_LINE.search(text)
        self._revision = max(
            [int(recorded.group(1)) if recorded else 0]
            + [int(r.metadata.resource_version or 0) for r in loaded.resources]
        )

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    @property
    def revision(self) -> int:
        return self._revision

    def objects(self) -> tuple[Resource, ...]:
        return tuple(self._objects.values())

    def select(self, kind: str | None = None, namespace: str | None = None) -> tuple[Resource, ...]:
        return tuple(
            r
            for key, r in sorted(self._objects.items())
            if (kind is None or key[0] == kind) and (namespace is None or key[1] == namespace)
        )

    def get(self, key: Key) -> Resource | None:
        return self._objects.get(key)

    def check(self, parsed: ParseResult) -> tuple[ConfigError, ...]:
        """Every error of a batch (parse and validation); warnings included."""
        errors = list(parsed.errors)
        if self._validator is not None:
            errors.extend(self._validator(parsed))
        return tuple(errors)

    def apply_text(self, text: str, source: str, namespace: str = "default") -> list[Change]:
        parsed = parse_documents(text, source, namespace)
        return self.apply(parsed)

    def apply(self, parsed: ParseResult) -> list[Change]:
        problems = self.check(parsed)
        if has_errors(problems):
            raise ConfigRejectedError([p for p in problems if p.severity == "error"])
        changes: list[Change] = []
        staged = dict(self._objects)
        revision = self._revision
        for resource in parsed.resources:
            old = staged.get(resource.key)
            if old is not None and _spec_form(old) == _spec_form(resource):
                changes.append(Change(resource.key, "unchanged"))
                continue
            revision += 1
            # As in Kubernetes, the server sets the creation time; a client's value is ignored.
            created = (
                old.metadata.creation_timestamp
                if old is not None and old.metadata.creation_timestamp is not None
                else datetime.now(UTC)
            )
            metadata = resource.metadata.model_copy(
                update={
                    "namespace": resource.namespace,
                    "creation_timestamp": created,
                    "resource_version": str(revision),
                }
            )
            staged[resource.key] = resource.model_copy(update={"metadata": metadata})
            changes.append(Change(resource.key, "configured" if old is not None else "created"))
        self._commit(staged, revision, changes)
        return changes

    def delete(self, keys: Iterable[Key]) -> list[Change]:
        staged = dict(self._objects)
        changes = []
        for key in keys:
            found = staged.pop(key, None)
            changes.append(Change(key, "deleted" if found is not None else "not found"))
        self._commit(staged, self._revision + 1, changes)
        return changes

    def _commit(self, staged: dict[Key, Resource], revision: int, changes: list[Change]) -> None:
        if not any(c.outcome in ("created", "configured", "deleted") for c in changes):
            return
        if self._path is not None:
            self._persist(staged, revision)
        self._objects = staged
        self._revision = revision
        monitoring.config_changed([(c.key[0], c.outcome) for c in changes])
        for listener in self._listeners:
            listener()

    def _persist(self, objects: dict[Key, Resource], revision: int) -> None:
        """Write the whole store, dumping only the objects whose instance changed since the
        last write. Documents keep their place in the file (new ones go last): sorting 4000
        keys and walking them in order was most of an apply's cost."""
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # A copy: if the write fails, the store and its documents stay as they were.
        documents = dict(self._documents)
        for key in [key for key in documents if key not in objects]:
            del documents[key]
        for key, resource in objects.items():
            known = documents.get(key)
            if known is None or known[0] is not resource:
                documents[key] = (
                    resource,
                    yaml.dump(resource.to_wire(), Dumper=_Dumper, sort_keys=False),
                )
        text = f"# mainsail store revision: {revision}\n" + "---\n".join(
            document for _, document in documents.values()
        )
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".store-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._documents = documents
