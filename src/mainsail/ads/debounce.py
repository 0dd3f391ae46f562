"""Debounce config changes: fire after ``after`` seconds of quiet, or ``max_delay`` after the first.

Like Pilot's ``debounce()`` (PILOT_DEBOUNCE_AFTER 100 ms / PILOT_DEBOUNCE_MAX 10 s). Only one
fire runs at a time; changes that arrive while it runs are debounced again afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from mainsail.ads.clock import Clock


def due_at(first: float, last: float, after: float, max_delay: float) -> float:
    return min(last + after, first + max_delay)


class Debouncer:
    def __init__(
        self,
        clock: Clock,
        fire: Callable[[], Awaitable[None]],
        *,
        after: float = 0.1,
        max_delay: float = 10.0,
    ) -> None:
        if after < 0 or max_delay < after:
            raise ValueError(f"debounce: need 0 <= after ({after}) <= max_delay ({max_delay})")
        self._clock = clock
        self._fire = fire
        self._after = after
        self._max_delay = max_delay
        self._first: float | None = None
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        return self._first is not None

    def trigger(self) -> None:
        """Record a change; must be called on the event loop's thread."""
        now = self._clock.now()
        if self._first is None:
            self._first = now
        self._last = now
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self) -> None:
        """Forget pending changes (the caller is pushing them right now)."""
        self._first = None

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            while self._first is not None:
                wait = (
                    due_at(self._first, self._last, self._after, self._max_delay)
                    - self._clock.now()
                )
                if wait > 0:
                    await self._clock.sleep(wait)
                    continue
                self._first = None
                await self._fire()
        finally:
            self._task = None
