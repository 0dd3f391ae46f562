"""The clock the push machinery reads: monotonic time and an async sleep, injected for tests.

``mainsail.testing.clock.FakeClock`` is the test double; ``SystemClock`` is the real one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``now()`` has advanced by ``seconds``."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
