"""The node agent: one per node, one Envoy per pod file.

It watches ``<state>/pods/*.json`` (polling; cheap: a directory listing and a stat per file) and
keeps exactly one Envoy per pod: a new file starts one (or adopts the one a previous agent left
running), a changed file replaces it, a removed file drains and stops it, a crashed Envoy is
restarted with back-off. Each pod's readiness is served on ``<pod ip>:<status port>``.

Each pod also gets its identity (``PodIdentity``): an SDS server on the pod's own Unix socket,
started before its Envoy (whose bootstrap points ``sds-grpc`` at it) and stopped after it, and
an SVID requested from the mesh CA and renewed at half-life. Nothing of it is persisted: after
an agent restart an adopted Envoy reconnects to the new SDS server and gets a new SVID.

When the agent itself stops it leaves the Envoys running (traffic keeps flowing on their last
config) unless told to stop them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import aiohttp

from mainsail.agent.bootstrap import PROMETHEUS_PATH
from mainsail.agent.envoy_process import EnvoyProcess
from mainsail.agent.errors import AgentError, PodFileError
from mainsail.agent.identity import CertificateSigner
from mainsail.agent.layout import AgentLayout
from mainsail.agent.pod_identity import PodIdentity
from mainsail.agent.root_file import RootCertFile
from mainsail.agent.settings import NodeAgentSettings
from mainsail.agent.status_server import StatusServer
from mainsail.agent.trust_bundle import TrustBundle
from mainsail.agent.workload import ProxyWorkload, load_workload

log = logging.getLogger(__name__)

_Stamp = tuple[int, int]  # (mtime_ns, size) of a pod file


class NodeAgent:
    def __init__(
        self,
        settings: NodeAgentSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        signer: CertificateSigner | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._layout = AgentLayout(settings.state_dir)
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        if signer is None:
            from mainsail.agent.ca_signer import CaSigner

            tls = settings.xds_tls
            signer = CaSigner(
                settings.ca_target,
                root_file=settings.root_cert_file if tls else None,
                server_name=settings.xds_san if tls else None,
            )
        self._signer = signer
        self._identities: dict[str, PodIdentity] = {}
        # One per node: a root rotation seen by one pod reaches every pod's ROOTCA.
        self.trust_bundle = TrustBundle()
        # Over TLS, Envoy verifies the control plane with ROOTCA: follow its root file too.
        self._root_file = RootCertFile(settings.root_cert_file) if settings.xds_tls else None
        self._status = StatusServer()
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, EnvoyProcess] = {}
        self._transitions: dict[str, asyncio.Task[None]] = {}
        self._files: dict[Path, tuple[_Stamp, ProxyWorkload | None]] = {}

    @property
    def layout(self) -> AgentLayout:
        return self._layout

    @property
    def proxies(self) -> Mapping[str, EnvoyProcess]:
        return MappingProxyType(self._proxies)

    @property
    def identities(self) -> Mapping[str, PodIdentity]:
        return MappingProxyType(self._identities)

    async def start(self) -> None:
        self._layout.pods_dir.mkdir(parents=True, exist_ok=True)
        self._session = aiohttp.ClientSession()
        await self._status.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``pod_poll_interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.reconcile()
            except Exception:
                log.exception("node agent: reconcile failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.pod_poll_interval_s)

    async def reconcile(self) -> None:
        """One pass: start the transitions that make the proxies match the pod files.

        Starts, drains and stops run in the background (one at a time per pod); ``settle``
        waits for them.
        """
        if self._root_file is not None:
            roots = self._root_file.changed_roots()
            if roots is not None and self.trust_bundle.update(roots):
                log.info(
                    "node agent: trust bundle from %s: %d root(s)", self._root_file.path, len(roots)
                )
        desired = self._read_pod_files()
        for key in list(self._proxies):
            if key not in desired and not self._busy(key):
                self._transition(key, self._remove(key))
        for key, workload in desired.items():
            if self._busy(key):
                continue
            current = self._proxies.get(key)
            if current is None:
                self._transition(key, self._add(workload))
            elif current.workload != workload:
                self._transition(key, self._replace(workload))
            elif not self._status.serves(workload.ip, workload.proxy_ports.status):
                await self._serve_status(current)

    async def settle(self) -> None:
        """Wait for the starts and stops that are under way (drains can take seconds)."""
        pending = [t for t in self._transitions.values() if not t.done()]
        if pending:
            await asyncio.wait(pending)

    async def close(self, *, stop_proxies: bool = False) -> None:
        """Stop the agent; the Envoys keep running for the next agent unless ``stop_proxies``."""
        await self.settle()
        for key in list(self._proxies):
            proxy = self._proxies.pop(key)
            if stop_proxies:
                await proxy.stop()
            else:
                await proxy.detach()
        # A detached Envoy keeps its last certificate until the next agent's SDS server answers.
        for key in list(self._identities):
            await self._identities.pop(key).stop()
        await self._status.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- transitions, one at a time per pod

    def _busy(self, key: str) -> bool:
        task = self._transitions.get(key)
        return task is not None and not task.done()

    def _transition(self, key: str, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except AgentError:
                log.exception("node agent: %s", key)

        self._transitions[key] = asyncio.create_task(guarded(), name=f"pod {key}")

    async def _add(self, workload: ProxyWorkload) -> None:
        assert self._session is not None, "start() first"
        identity = PodIdentity(
            workload,
            settings=self._settings,
            layout=self._layout,
            signer=self._signer,
            clock=self._wall_clock,
            sleep=self._sleep,
            bundle=self.trust_bundle,
        )
        await identity.start()
        self._identities[workload.key] = identity
        proxy = EnvoyProcess(
            workload,
            settings=self._settings,
            layout=self._layout,
            session=self._session,
            clock=self._clock,
            sleep=self._sleep,
            sds_socket=identity.socket,
        )
        try:
            await proxy.start()
        except BaseException:
            del self._identities[workload.key]
            await identity.stop()
            raise
        self._proxies[workload.key] = proxy
        await self._serve_status(proxy)

    async def _remove(self, key: str) -> None:
        proxy = self._proxies[key]
        report = await proxy.stop()
        log.info("node agent: %s stopped (%s)", key, report)
        ports = proxy.workload.proxy_ports
        await self._status.remove_pod(proxy.workload.ip, ports.status)
        del self._proxies[key]
        identity = self._identities.pop(key, None)
        if identity is not None:
            await identity.stop()

    async def _replace(self, workload: ProxyWorkload) -> None:
        await self._remove(workload.key)
        await self._add(workload)

    async def _serve_status(self, proxy: EnvoyProcess) -> None:
        workload = proxy.workload
        ports = workload.proxy_ports
        stats = f"http://{workload.ip}:{ports.prometheus}{PROMETHEUS_PATH}"
        await self._status.add_pod(workload.ip, ports.status, proxy.is_ready, stats)

    # --- pod files

    def _read_pod_files(self) -> dict[str, ProxyWorkload]:
        desired: dict[str, ProxyWorkload] = {}
        seen: set[Path] = set()
        for path in sorted(self._layout.pods_dir.glob("*.json")):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            seen.add(path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            cached = self._files.get(path)
            if cached is not None and cached[0] == stamp:
                workload = cached[1]
            else:
                try:
                    workload = load_workload(path)
                except PodFileError as error:
                    log.error("node agent: skipping pod file: %s", error)
                    workload = None
                self._files[path] = (stamp, workload)
            if workload is not None:
                desired[workload.key] = workload
        for path in set(self._files) - seen:
            del self._files[path]
        return desired


async def run_node_agent(
    settings: NodeAgentSettings,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    stop_proxies_on_exit: bool = False,
) -> None:
    """Run the node agent until ``stop`` is set (or SIGTERM/SIGINT when ``handle_signals``)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    agent = NodeAgent(settings)
    await agent.start()
    try:
        await agent.run(stop)
    finally:
        await agent.close(stop_proxies=stop_proxies_on_exit)
        for sig in signals:
            loop.remove_signal_handler(sig)
