"""``LayeredResources``: one proxy's resources of a type as its own plus a shared layer.

A sidecar's clusters are a few of its own (inbound, passthrough) and thousands shared with
every proxy that sees the same services. Copying the shared ones into a dict per proxy cost
more than translating them (1000 services: ~3 ms per proxy and push), and it hid from the ADS
session that nothing changed: the shared layer is the very same object for every proxy with the
same inputs and, through the translation cache, across snapshots while they are unchanged, so
``changed_names`` compares layers by identity and a changed shared layer once for all proxies.

On a name in both layers the shared resource wins (as ``ProxyConfig.of`` did with the shared
ones listed last).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from mainsail.xds.resources import XdsResource

Resources = Mapping[str, XdsResource]


class LayeredResources(Mapping[str, XdsResource]):
    __slots__ = ("_len", "own", "shared")

    def __init__(self, own: Resources, shared: Resources) -> None:
        self.own = own
        self.shared = shared
        self._len = len(shared) + sum(1 for name in own if name not in shared)

    def __getitem__(self, name: str) -> XdsResource:
        found = self.shared.get(name)
        return found if found is not None else self.own[name]

    def get(self, name: str, default: XdsResource | None = None) -> XdsResource | None:  # type: ignore[override]
        found = self.shared.get(name)
        if found is not None:
            return found
        return self.own.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.shared or name in self.own

    def __iter__(self) -> Iterator[str]:
        yield from self.shared
        shared = self.shared
        yield from (name for name in self.own if name not in shared)

    def __len__(self) -> int:
        return self._len


_MEMO_SIZE: Final = 64
# (id(old shared), id(new shared)) -> (old, new, names): the layers are held so ids stay theirs.
_memo: dict[tuple[int, int], tuple[Resources, Resources, frozenset[str]]] = {}


def changed_names(old: Resources, new: Resources) -> set[str]:
    """Names added, removed or given another version between two configs of one type."""
    if old is new:
        return set()
    if isinstance(old, LayeredResources) and isinstance(new, LayeredResources):
        candidates = {*old.own, *new.own} | _shared_changes(old.shared, new.shared)
        return {
            name
            for name in candidates
            if (had := old.get(name)) is not (has := new.get(name))
            and (had is None or has is None or had.version != has.version)
        }
    return _compare(old, new)


def _shared_changes(old: Resources, new: Resources) -> frozenset[str]:
    if old is new:
        return frozenset()
    key = (id(old), id(new))
    found = _memo.get(key)
    if found is None or found[0] is not old or found[1] is not new:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        found = _memo[key] = (old, new, frozenset(_compare(old, new)))
    return found[2]


def _compare(old: Resources, new: Resources) -> set[str]:
    changed = {
        name
        for name, resource in new.items()
        if (had := old.get(name)) is not resource
        and (had is None or had.version != resource.version)
    }
    if old:
        changed.update(name for name in old if name not in new)
    return changed
