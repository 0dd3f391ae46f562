"""The agent's status endpoint, one per pod address: ``http://<pod ip>:<status port>/healthz/ready``.

200 once that pod's Envoy is ready (Istio's rule: first CDS and LDS accepted, server LIVE), 503
otherwise. Envoy's own health listener (``:<health port>/healthz/ready``) forwards here through the
``agent`` cluster, as in Istio. One aiohttp runner serves every pod; the pod is told apart by the
local address a request arrived on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from mainsail.agent.bootstrap import READINESS_PATH

log = logging.getLogger(__name__)

ReadinessProbe = Callable[[], Awaitable[bool]]


class StatusServer:
    def __init__(self) -> None:
        app = web.Application()
        app.router.add_get(READINESS_PATH, self._ready)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._sites: dict[tuple[str, int], web.TCPSite] = {}
        self._probes: dict[tuple[str, int], ReadinessProbe] = {}
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._runner.setup()
            self._started = True

    def serves(self, ip: str, port: int) -> bool:
        return (ip, port) in self._sites

    async def add_pod(self, ip: str, port: int, probe: ReadinessProbe) -> bool:
        """Serve readiness for the pod on ``ip:port``; False (logged) when it cannot bind yet."""
        self._probes[(ip, port)] = probe
        if (ip, port) in self._sites:
            return True
        site = web.TCPSite(self._runner, ip, port, reuse_address=True)
        try:
            await site.start()
        except OSError as error:
            log.warning("status server cannot listen on %s:%d: %s", ip, port, error)
            return False
        self._sites[(ip, port)] = site
        return True

    async def remove_pod(self, ip: str, port: int) -> None:
        self._probes.pop((ip, port), None)
        site = self._sites.pop((ip, port), None)
        if site is not None:
            await site.stop()

    async def close(self) -> None:
        for key in list(self._sites):
            await self.remove_pod(*key)
        if self._started:
            await self._runner.cleanup()
            self._started = False

    async def _ready(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        probe = self._probes.get((sockname[0], sockname[1])) if sockname else None
        if probe is None:
            return web.Response(status=404, text="no pod on this address\n")
        if await probe():
            return web.Response(status=200, text="ready\n")
        return web.Response(status=503, text="Envoy proxy is NOT ready\n")
