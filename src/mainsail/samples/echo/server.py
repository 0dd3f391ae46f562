"""The echo app (see the package docstring) and an in-process ``EchoServer``."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from mainsail.samples.serving import start_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_DELAY_SECONDS = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    version: str = "v1"
    pod: str = ""
    # The share of requests answered 503 on purpose (a flaky endpoint for resilience tests).
    fail_rate: float = 0.0
    log_requests: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], not {self.fail_rate}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EchoSettings:
        return cls(
            host=env.get("INSTANCE_IP") or DEFAULT_HOST,
            port=int(env.get("PORT") or DEFAULT_PORT),
            version=env.get("SERVICE_VERSION") or "v1",
            pod=env.get("POD_NAME", ""),
            fail_rate=float(env.get("FAIL_RATE") or 0.0),
            log_requests=(env.get("LOG_REQUESTS") or "").lower() in ("1", "true", "yes"),
        )


def _headers(request: web.Request) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        found.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in found.items()}


def build_app(
    settings: EchoSettings, *, draw: Callable[[], float] = random.random
) -> web.Application:
    """``draw`` decides the purposely failed requests (``draw() < fail_rate``)."""

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
        if settings.fail_rate and draw() < settings.fail_rate:
            status = 503
        payload = {
            "version": settings.version,
            "pod": settings.pod,
            "method": request.method,
            "path": request.path,
            "query": {k: request.query[k] for k in request.query},
            "headers": _headers(request),
            "body_length": len(body),
        }
        if settings.log_requests:
            print(json.dumps({**payload, "status": status}, sort_keys=True), flush=True)
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
        self._runner, self.port = await start_app(
            build_app(self.settings), self.settings.host, self.settings.port, access_log=False
        )
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
