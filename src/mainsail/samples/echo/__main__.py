"""``python -m mainsail.samples.echo``: serve on ``$INSTANCE_IP:$PORT`` until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal

from mainsail.samples.echo.server import EchoServer, EchoSettings


async def _serve(settings: EchoSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with EchoServer(settings) as server:
        print(
            f"echo {settings.version} listening on {settings.host} port {server.port}", flush=True
        )
        await stop.wait()


def main() -> None:
    asyncio.run(_serve(EchoSettings.from_env(os.environ)))


if __name__ == "__main__":
    main()
