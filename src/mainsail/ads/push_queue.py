"""The push queue: proxies waiting for a push, each at most once.

Like Pilot's ``pushqueue.go``: enqueueing a proxy that is already queued is a no-op, and
enqueueing one whose push is in progress queues it again once that push is ``done``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Generic, TypeVar

from mainsail.ads.clock import Clock

K = TypeVar("K")


class PushQueue(Generic[K]):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queued: OrderedDict[K, float] = OrderedDict()  # key -> enqueued at
        self._in_progress: set[K] = set()
        self._again: set[K] = set()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queued)

    @property
    def in_progress(self) -> frozenset[K]:
        return frozenset(self._in_progress)

    def enqueue(self, key: K) -> None:
        if key in self._in_progress:
            self._again.add(key)
        elif key not in self._queued:
            self._queued[key] = self._clock.now()
            self._ready.set()

    def forget(self, key: K) -> None:
        """Drop a proxy that disconnected."""
        self._queued.pop(key, None)
        self._again.discard(key)

    async def get(self) -> tuple[K, float]:
        """The next proxy to push and how long it waited; it stays in progress until ``done``."""
        while not self._queued:
            self._ready.clear()
            await self._ready.wait()
        key, enqueued_at = self._queued.popitem(last=False)
        self._in_progress.add(key)
        return key, self._clock.now() - enqueued_at

    def done(self, key: K) -> None:
        self._in_progress.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.enqueue(key)
