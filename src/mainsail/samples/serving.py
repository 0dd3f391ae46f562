"""Serve an aiohttp app on ``host:port`` (port 0: the OS picks one) and say which port it got.

Shared by the sample apps (BookInfo, echo) and the test upstreams in ``mainsail.testing``.
"""

from __future__ import annotations

from aiohttp import web


async def start_app(
    app: web.Application, host: str, port: int, *, access_log: bool = True
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns its runner (call ``cleanup`` to stop) and the bound port."""
    runner = (
        web.AppRunner(app, handle_signals=False)
        if access_log
        else web.AppRunner(app, handle_signals=False, access_log=None)
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
