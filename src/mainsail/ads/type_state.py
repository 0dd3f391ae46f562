"""What one xDS stream knows per resource type: subscription, responses in flight, what the
client holds (``sent``) and confirmed (``acked``), and the bookkeeping that lets the session
look only at the names a push or an ACK concerns.

``sent`` and ``acked`` are ``Held`` maps, which keep their set version (the SotW
``version_info``) up to date as names change, so a response never re-hashes a whole type.
A response in flight records the names it changed (``InFlight.changes``): an ACK applies them to
``acked`` and a NACK puts those names of ``sent`` back to ``acked`` (journal, not copies).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from mainsail.ads.exchange import Exchange
from mainsail.xds.resources import XdsResource

_MASK: Final = 0xFFFFFFFFFFFFFFFF
_ODD: Final = 0x9E3779B97F4A7C15


def same(a: XdsResource | None, b: XdsResource | None) -> bool:
    """Both absent, or the same content (the very object, or the same version)."""
    return a is b or (a is not None and b is not None and a.version == b.version)


class Held(Mapping[str, XdsResource]):
    """name -> resource, with ``version`` equal to ``resources.set_version`` of the values,
    kept by adding and subtracting per-resource tokens instead of summing them all again."""

    __slots__ = ("_items", "_total")

    def __init__(self, items: Mapping[str, XdsResource] | None = None) -> None:
        self._items: dict[str, XdsResource] = {}
        self._total = 0
        for name, resource in (items or {}).items():
            self.put(name, resource)

    def __getitem__(self, name: str) -> XdsResource:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str, default: XdsResource | None = None) -> XdsResource | None:  # type: ignore[override]
        return self._items.get(name, default)

    def put(self, name: str, resource: XdsResource | None) -> XdsResource | None:
        """Hold ``resource`` under ``name`` (None: drop the name); returns what was held."""
        old = self._items.get(name)
        if old is not None:
            self._total -= old.token
        if resource is None:
            if old is not None:
                del self._items[name]
        else:
            self._items[name] = resource
            self._total += resource.token
        return old

    @property
    def version(self) -> str:
        total = self._total & _MASK
        return f"{total ^ (len(self._items) * _ODD & _MASK):016x}"


@dataclass(frozen=True, slots=True)
class InFlight:
    nonce: str
    seq: int
    version: str  # of the client's whole view of the type once applied
    # What applying it does to the client's view: name -> resource, None for a removal.
    changes: Mapping[str, XdsResource | None]
    carried: frozenset[str]
    # Every name whose ``sent``/``carried_seq`` it moved (changes, carried, superseded ones).
    touches: frozenset[str]
    plan_version: str
    sent_at: float


@dataclass(slots=True)
class TypeState:
    type_url: str
    requested: bool = False
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    exchange: Exchange = Exchange.IDLE
    sent: Held = field(default_factory=Held)
    acked: Held = field(default_factory=Held)
    acked_seq: dict[str, int] = field(default_factory=dict)
    changed_seq: dict[str, int] = field(default_factory=dict)
    carried_seq: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, InFlight] = field(default_factory=dict)
    sent_version: str = ""
    sent_nonce: str = ""
    acked_version: str = ""
    error: str = ""
    rejected_plan: str | None = None
    must_respond: bool = False
    unsettled_since: float | None = None
    # --- incremental bookkeeping (supersets are safe: a name looked at needlessly costs time)
    # Names whose offer, holding or subscription changed since the last response decision.
    touched: set[str] = field(default_factory=set)
    # Names that differed from the offer at the last decision but were not sent (NACKed plan).
    pending: set[str] = field(default_factory=set)
    # Names whose ``sent`` changed outside a response (re-subscription): the next response
    # records them so that its ACK leaves ``acked`` equal to ``sent``.
    drift: set[str] = field(default_factory=set)
    # Decide over every name (first request, wildcard switched): the scope changed wholesale.
    rescan: bool = True
    # In scope and the ACKed resource is not the target's: the type is not in sync.
    out_of_sync: set[str] = field(default_factory=set)

    def in_scope(self, name: str) -> bool:
        return self.wildcard or name in self.names

    def note_sync(self, name: str, wanted: XdsResource | None) -> None:
        if self.in_scope(name) and not same(self.acked.get(name), wanted):
            self.out_of_sync.add(name)
        else:
            self.out_of_sync.discard(name)

    def resync(self, wanted: Mapping[str, XdsResource]) -> None:
        """Recompute ``out_of_sync`` over every name (the scope changed wholesale)."""
        self.out_of_sync.clear()
        names = {*wanted, *self.acked} if self.wildcard else self.names
        for name in names:
            self.note_sync(name, wanted.get(name))
