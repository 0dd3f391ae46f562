"""``python -m mainsail.samples.ext_authz``: the HTTP ext_authz check server on
``$INSTANCE_IP:$PORT`` (default 8000), like Istio's ``ext-authz`` sample.

Envoy's HTTP ext_authz sends the request's headers (those the provider allows) to this server on
the same path; it answers 200 with ``x-ext-authz-check-result: allowed`` when the request carries
``x-ext-authz: allow``, else 403 with the sample's message. Every check is logged.
"""

from __future__ import annotations

import asyncio
import os
import signal

from aiohttp import web

from mainsail.samples.serving import start_app

ALLOW_HEADER = "x-ext-authz"
ALLOW_VALUE = "allow"
RESULT_HEADER = "x-ext-authz-check-result"


async def check(request: web.Request) -> web.Response:
    allowed = request.headers.get(ALLOW_HEADER) == ALLOW_VALUE
    print(
        f"check {request.method} {request.path_qs}: {'allowed' if allowed else 'denied'}",
        flush=True,
    )
    if allowed:
        return web.Response(status=200, headers={RESULT_HEADER: "allowed"})
    return web.Response(
        status=403,
        headers={RESULT_HEADER: "denied"},
        text=f"denied by ext_authz for not found header `{ALLOW_HEADER}: {ALLOW_VALUE}` in the request",
    )


async def _serve(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", check)
    runner, bound = await start_app(app, host, port, access_log=False)
    print(f"ext-authz listening on {host} port {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    host = os.environ.get("INSTANCE_IP") or "127.0.0.1"
    asyncio.run(_serve(host, int(os.environ.get("PORT") or 8000)))


if __name__ == "__main__":
    main()
