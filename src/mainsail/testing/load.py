"""A steady stream of HTTP requests (several concurrent clients) whose outcomes are counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

import aiohttp


@dataclass(slots=True)
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def failures(self) -> int:
        """Non-2xx responses plus transport errors."""
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + sum(self.errors.values())


class LoadLoop:
    """``async with LoadLoop(url) as load:`` keeps ``concurrency`` clients requesting ``url``."""

    def __init__(self, url: str, *, concurrency: int = 4, proxy: str | None = None) -> None:
        self.url = url
        self.proxy = proxy
        self.concurrency = concurrency
        self.result = LoadResult()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def _client(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not self._stop.is_set():
                try:
                    async with http.get(self.url, proxy=self.proxy) as response:
                        body = await response.text()
                        self.result.statuses[response.status] += 1
                        if 200 <= response.status < 300:
                            self.result.bodies[body] += 1
                except (aiohttp.ClientError, TimeoutError) as e:
                    self.result.errors[type(e).__name__] += 1

    async def wait_for(self, requests: int, timeout: float = 10.0) -> None:
        """Until at least ``requests`` more requests completed."""
        goal = self.result.total + requests
        async with asyncio.timeout(timeout):
            while self.result.total < goal:
                await asyncio.sleep(0.005)

    async def __aenter__(self) -> LoadLoop:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.concurrency)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
