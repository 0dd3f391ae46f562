"""Runs the app containers of local pods: start, restart with back-off, stop gracefully.

Each container runs in its own session (process group) so a stop reaches the children an app
may have started; its output is appended to ``<state>/logs/<ns>.<pod>.<container>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from mainsail.backoff import RestartBackoff
from mainsail.platform.app_env import ServiceEnv, build_app_env
from mainsail.platform.layout import StateLayout
from mainsail.platform.pod import ContainerSpec, PodSpec

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerStatus:
    name: str
    running: bool
    pid: int | None
    restarts: int
    last_exit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PodStatus:
    namespace: str
    name: str
    containers: tuple[ContainerStatus, ...]

    @property
    def running(self) -> bool:
        return all(c.running for c in self.containers)

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)


class _ContainerRun:
    """Keeps one container's process running until ``stop``."""

    def __init__(
        self,
        *,
        container: ContainerSpec,
        env: Mapping[str, str],
        log_path: os.PathLike[str],
        clock: Clock,
        sleep: Sleep,
        backoff: RestartBackoff,
        grace_period: float,
    ) -> None:
        self.container = container
        self._env = dict(env)
        self._log_path = log_path
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._grace_period = grace_period
        self._stopping = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.last_exit: int | None = None
        self._task = asyncio.create_task(self._keep_running(), name=f"app {container.name}")

    def status(self) -> ContainerStatus:
        process = self._process
        running = process is not None and process.returncode is None
        return ContainerStatus(
            name=self.container.name,
            running=running,
            pid=process.pid if process is not None and running else None,
            restarts=max(0, self.starts - 1),
            last_exit=self.last_exit,
        )

    async def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self._grace_period)
            except TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
            # Whatever the app left in its group goes too.
            _signal_group(process.pid, signal.SIGKILL)
        await self._task

    async def _keep_running(self) -> None:
        with open(self._log_path, "ab", buffering=0) as out:
            while not self._stopping.is_set():
                started = self._clock()
                exit_code = await self._run_once(out)
                if self._stopping.is_set():
                    return
                self.last_exit = exit_code
                uptime = self._clock() - started
                delay = self._backoff.delay_after_exit(uptime)
                _note(out, f"exited with {exit_code} after {uptime:.1f}s; restart in {delay:g}s")
                await self._sleep_unless_stopped(delay)

    async def _run_once(self, out: BinaryIO) -> int:
        argv = self.container.argv
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                env=self._env,
                cwd=self.container.working_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out.fileno(),
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            _note(out, f"cannot start {argv!r}: {error}")
            return 127
        self._process = process
        self.starts += 1
        _note(out, f"started pid {process.pid}: {' '.join(argv)}")
        return await process.wait()

    async def _sleep_unless_stopped(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopped = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for future in (sleeper, stopped):
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future


def _note(out: BinaryIO, message: str) -> None:
    out.write(f"[mainsail] {time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n".encode())


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class AppSupervisor:
    """Starts, restarts and stops the app containers of local pods (router pods have none).

    ``clock`` and ``sleep`` are injectable so the back-off can be tested without waiting.
    """

    def __init__(
        self,
        layout: StateLayout,
        *,
        base_env: Mapping[str, str] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        grace_period: float = 5.0,
        backoff: Callable[[], RestartBackoff] = RestartBackoff,
    ) -> None:
        self._layout = layout
        self._base_env = dict(os.environ if base_env is None else base_env)
        self._clock = clock
        self._sleep = sleep
        self._grace_period = grace_period
        self._backoff = backoff
        self._pods: dict[tuple[str, str], tuple[PodSpec, tuple[_ContainerRun, ...]]] = {}

    async def start_pod(self, pod: PodSpec, *, services: Iterable[ServiceEnv] = ()) -> None:
        """Run the pod's containers; a pod already running with another spec is restarted."""
        key = (pod.namespace, pod.name)
        current = self._pods.get(key)
        if current is not None:
            if current[0] == pod:
                return
            await self.stop_pod(pod.namespace, pod.name)
        self._layout.logs_dir.mkdir(parents=True, exist_ok=True)
        service_list = tuple(services)
        runs = tuple(
            _ContainerRun(
                container=container,
                env=build_app_env(pod, container, base_env=self._base_env, services=service_list),
                log_path=self._layout.container_log(pod.namespace, pod.name, container.name),
                clock=self._clock,
                sleep=self._sleep,
                backoff=self._backoff(),
                grace_period=self._grace_period,
            )
            for container in (pod.containers if pod.has_app else ())
        )
        self._pods[key] = (pod, runs)

    async def stop_pod(self, namespace: str, name: str) -> None:
        entry = self._pods.pop((namespace, name), None)
        if entry is not None:
            await asyncio.gather(*(run.stop() for run in entry[1]))

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop_pod(ns, name) for ns, name in list(self._pods)))

    def status(self, namespace: str, name: str) -> PodStatus | None:
        entry = self._pods.get((namespace, name))
        if entry is None:
            return None
        return PodStatus(
            namespace=namespace,
            name=name,
            containers=tuple(run.status() for run in entry[1]),
        )

    def statuses(self) -> tuple[PodStatus, ...]:
        return tuple(
            status
            for ns, name in sorted(self._pods)
            if (status := self.status(ns, name)) is not None
        )
