"""Run one BookInfo app: bind ``$INSTANCE_IP:$PORT`` and serve until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from mainsail.samples.serving import start_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9080


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """The address an app binds. Port 0 asks the OS for a free port (tests)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Listen:
        return cls(
            host=env.get("INSTANCE_IP") or DEFAULT_HOST,
            port=int(env.get("PORT") or DEFAULT_PORT),
        )


def add_health(app: web.Application, service: str) -> None:
    """``GET /health`` answers 200 while the app serves."""

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": f"{service} is healthy"})

    app.router.add_get("/health", health)


async def start(app: web.Application, listen: Listen) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns its runner (call ``cleanup`` to stop) and bound port."""
    return await start_app(app, listen.host, listen.port)


async def serve(app: web.Application, listen: Listen, service: str) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    runner, port = await start(app, listen)
    # Supervisors and tests started with PORT=0 read the bound port from this line.
    print(f"{service} listening on {listen.host} port {port}", flush=True)
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()


def run(app: web.Application, listen: Listen, service: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    asyncio.run(serve(app, listen, service))
