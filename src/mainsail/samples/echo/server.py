"""The echo app (see the package docstring) and an in-process ``EchoServer``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_DELAY_SECONDS = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    version: str = "v1"
    pod: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EchoSettings:
        return cls(
            host=env.get("INSTANCE_IP") or DEFAULT_HOST,
            port=int(env.get("PORT") or DEFAULT_PORT),
            version=env.get("SERVICE_VERSION") or "v1",
            pod=env.get("POD_NAME", ""),
        )


def _headers(request: web.Request) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        found.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in found.items()}


def build_app(settings: EchoSettings) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        status = 200
        try:
            if "status" in request.query:
                status = int(request.query["status"])
                if not 100 <= status <= 599:
                    raise ValueError(status)
            if "delay" in request.query:
                delay = float(request.query["delay"])
                if not 0 <= delay <= MAX_DELAY_SECONDS:
                    raise ValueError(delay)
                await asyncio.sleep(delay)  # the delay is what the caller asked for
        except ValueError:
            return web.json_response({"error": "bad status or delay"}, status=400)
        payload = {
            "version": settings.version,
            "pod": settings.pod,
            "method": request.method,
            "path": request.path,
            "query": {k: request.query[k] for k in request.query},
            "headers": _headers(request),
            "body_length": len(body),
        }
        return web.json_response(payload, status=status)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


class EchoServer:
    """The echo app in this process, on ``settings.host`` and an OS-chosen port (``port``)."""

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> EchoServer:
        self._runner = web.AppRunner(build_app(self.settings), access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EchoServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
