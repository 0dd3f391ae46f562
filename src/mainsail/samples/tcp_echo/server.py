"""``python -m mainsail.samples.tcp_echo.server [PREFIX]``: echo each line as ``<PREFIX> <line>``.

Listens on ``$INSTANCE_IP:$PORT`` like every local-platform app (Istio's tcp-echo does the same
on its container ports; ``PREFIX`` defaults to ``hello``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys


async def _echo(prefix: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while line := await reader.readline():
            writer.write(f"{prefix} ".encode() + line)
            await writer.drain()
    writer.close()


async def serve(prefix: str, host: str, port: int) -> None:
    server = await asyncio.start_server(lambda r, w: _echo(prefix, r, w), host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    print(f"tcp-echo listening on {bound[0]} port {bound[1]}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    prefix = sys.argv[1] if len(sys.argv) > 1 else "hello"
    asyncio.run(
        serve(
            prefix, os.environ.get("INSTANCE_IP", "127.0.0.1"), int(os.environ.get("PORT", "9000"))
        )
    )


if __name__ == "__main__":
    main()
