"""A tiny HTTP upstream for real-Envoy tests: answers every request with its own name."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from aiohttp import web

from mainsail.samples.serving import start_app


class HttpUpstream:
    def __init__(self, name: str, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self.port = 0
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        return web.Response(text=self.name)

    async def start(self) -> HttpUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Port 0: the OS picks the port, no race with other processes.
        self._runner, self.port = await start_app(app, self.host, 0, access_log=False)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HttpUpstream:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
