"""``TranslationCache``: translated pieces reused across snapshots, keyed by what they are built from.

A change to one VirtualService makes a new snapshot, and the ``Translator`` of that snapshot
would rebuild (and re-serialize) the route of every service. The cache lets it reuse the pieces
whose inputs did not change. It is owned by the control plane's composition root and handed to
each Translator; translation stays a function of its arguments: a key holds *everything* the
piece is built from, so a hit returns exactly what a miss would build (``tests/xds`` checks it).

Keys use values where they are cheap to compare (``MeshService``, ports, names) and identity
(``Same``) for config objects: the store keeps an unchanged object's instance across snapshots,
so the same instance means the same content (and an edited one is a new instance: a miss). A
key holds its objects, so an ``id`` is never reused while its entry lives.

Entries live for two snapshots: each Translator opens a round; an entry not used in the last
two rounds is dropped, so the cache holds about one snapshot's worth.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Same(Generic[T]):
    """A key part equal only to the very same object (hash by identity)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value

    def __repr__(self) -> str:
        return f"Same({type(self.value).__name__}@{id(self.value):x})"


class TranslationCache:
    def __init__(self) -> None:
        self._current: dict[Hashable, object] = {}
        self._previous: dict[Hashable, object] = {}
        self._tokens: dict[Hashable, int] = {}
        self._next_token = 0

    def new_round(self) -> None:
        """A new snapshot: what the one before last used and nobody used since is dropped."""
        self._previous, self._current = self._current, {}

    def token(self, parts: Hashable) -> int:
        """A small int standing for ``parts`` (compared once per snapshot, not once per key)."""
        found = self._tokens.get(parts)
        if found is None:
            if len(self._tokens) > 64:
                self._tokens.clear()  # old snapshots' tokens; their entries age out
            found = self._tokens[parts] = self._next_token
            self._next_token += 1
        return found

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        found = self._current.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is None:
                found = build()
            self._current[key] = found
        return found  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._current.keys() | self._previous.keys())
