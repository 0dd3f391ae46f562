"""The agent's status endpoint, one per pod address: ``http://<pod ip>:<status port>/healthz/ready``.

200 once that pod's Envoy is ready (Istio's rule: first CDS and LDS accepted, server LIVE), 503
otherwise. Envoy's own health listener (``:<health port>/healthz/ready``) forwards here through the
``agent`` cluster, as in Istio. One aiohttp runner serves every pod; the pod is told apart by the
local address a request arrived on. ``/stats/prometheus`` (and ``/metrics``) is pilot-agent's
merged page: the pod's Envoy metrics followed by the agent's (``agent.merged_metrics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from mainsail.agent.bootstrap import PROMETHEUS_PATH, READINESS_PATH
from mainsail.agent.merged_metrics import CONTENT_TYPE, AgentGauges, agent_metrics_text, merge

log = logging.getLogger(__name__)

ReadinessProbe = Callable[[], Awaitable[bool]]


class StatusServer:
    def __init__(self) -> None:
        app = web.Application()
        app.router.add_get(READINESS_PATH, self._ready)
        # pilot-agent's merged metrics (Envoy + agent), ``/metrics`` its alias.
        app.router.add_get(PROMETHEUS_PATH, self._metrics)
        app.router.add_get("/metrics", self._metrics)
        self._envoy_stats: dict[tuple[str, int], str] = {}
        self._since: dict[tuple[str, int], float] = {}
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

    async def add_pod(
        self, ip: str, port: int, probe: ReadinessProbe, envoy_stats_url: str = ""
    ) -> bool:
        """Serve readiness (and merged metrics, read from ``envoy_stats_url``) for the pod on
        ``ip:port``; False (logged) when it cannot bind yet."""
        self._probes[(ip, port)] = probe
        self._envoy_stats[(ip, port)] = envoy_stats_url
        self._since.setdefault((ip, port), time.monotonic())
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
        self._envoy_stats.pop((ip, port), None)
        self._since.pop((ip, port), None)
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

    async def _metrics(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        key = (sockname[0], sockname[1]) if sockname else None
        probe = self._probes.get(key) if key else None
        if key is None or probe is None:
            return web.Response(status=404, text="no pod on this address\n")
        envoy_text, failed = "", False
        url = self._envoy_stats.get(key, "")
        if url:
            try:
                timeout = aiohttp.ClientTimeout(total=5)
                async with (
                    aiohttp.ClientSession(timeout=timeout, trust_env=False) as http,
                    http.get(url) as response,
                ):
                    response.raise_for_status()
                    envoy_text = await response.text()
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning("cannot read Envoy's metrics at %s: %s", url, error)
                failed = True
        gauges = AgentGauges(
            envoy_ready=await probe(),
            envoy_scrape_failed=failed,
            uptime_seconds=time.monotonic() - self._since.get(key, time.monotonic()),
        )
        body = merge(envoy_text, agent_metrics_text(gauges))
        return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})
