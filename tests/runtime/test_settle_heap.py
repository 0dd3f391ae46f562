"""``settle_heap``: what the control plane freezes after a change, and when it walks it all."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mainsail.runtime import control_plane
from mainsail.runtime.control_plane import resident_bytes, settle_heap


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    before = control_plane._RESIDENT_AFTER_FULL[0]
    yield
    gc.unfreeze()
    control_plane._RESIDENT_AFTER_FULL[0] = before


def test_settling_freezes_what_lives_and_collects_cycles_first() -> None:
    class Node:
        other: object = None

    kept = [Node() for _ in range(1000)]
    garbage = Node()
    garbage.other = garbage  # a cycle nothing refers to
    dead = weakref.ref(garbage)
    del garbage
    frozen = gc.get_freeze_count()
    settle_heap()
    assert gc.get_freeze_count() >= frozen + len(kept)
    assert dead() is None  # collected, not frozen


def test_a_full_collection_only_once_resident_memory_has_doubled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resident = [100 << 20]
    monkeypatch.setattr(control_plane, "resident_bytes", lambda: resident[0])
    unfrozen: list[bool] = []
    real_unfreeze = gc.unfreeze
    monkeypatch.setattr(gc, "unfreeze", lambda: (unfrozen.append(True), real_unfreeze())[1])
    control_plane._RESIDENT_AFTER_FULL[0] = 100 << 20
    resident[0] = 190 << 20
    settle_heap()
    assert unfrozen == []  # grown, not doubled: only the new objects are walked
    resident[0] = 201 << 20
    settle_heap()
    assert unfrozen == [True]
    assert control_plane._RESIDENT_AFTER_FULL[0] == 201 << 20
    settle_heap()
    assert unfrozen == [True]


def test_resident_bytes_reads_this_process() -> None:
    held = bytearray(64 << 20)
    held[::4096] = b"x" * len(held[::4096])  # touch every page
    assert resident_bytes() >= 64 << 20
