"""``mainsail up`` / ``demo``: run a whole mesh on this machine.

Order of start: control plane (with the mesh CA) → config applied → pods placed (addresses,
CA tokens, pod files, Pod objects registered) → node agent (one Envoy and one SVID per pod) →
apps. Order of stop: proxies drained and stopped,
then apps, node agent and control plane. The launcher's state is in ``<home>/launcher.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from mainsail.api.client import ApiClient, ApiError
from mainsail.ca.layout import CaLayout
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Deployment
from mainsail.config.parse import ParseResult, load_paths
from mainsail.config.validation import validate_all
from mainsail.platform.addresses import DEFAULT_POD_NETWORK, AddressPool, PodAllocations
from mainsail.platform.deployments import pods_from_deployments
from mainsail.platform.errors import PlatformError, PodSpecError
from mainsail.platform.pod import PodSpec, ProxyPorts
from mainsail.platform.pod_store import PodStore
from mainsail.platform.pod_tokens import PodTokens
from mainsail.platform.supervisor import AppSupervisor
from mainsail.runtime.control_plane import load_mesh_config
from mainsail.runtime.home import Home
from mainsail.runtime.processes import mark_as_mesh, pid_alive, spawn_mainsail, terminate

log = logging.getLogger(__name__)


class LaunchError(Exception):
    """The mesh could not be started; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchSettings:
    home: Home
    files: tuple[Path, ...]
    pod_network: str = DEFAULT_POD_NETWORK
    proxy_ports: ProxyPorts = field(default_factory=ProxyPorts)
    xds_port: int | None = None
    # The control plane's TLS port (None: 15012, else any free one), and whether the agent
    # and the Envoys use it (Istio's 15012) rather than the plaintext port.
    xds_tls_port: int | None = None
    xds_tls: bool = False
    api_port: int | None = None
    mesh_config: Path | None = None
    ready_timeout: float = 60.0
    # The lifetime each pod's SVID is requested with (renewed at about half of it).
    cert_ttl_s: int = 3600
    # The dashboard's port (None: 20001, else any free one), scrape interval and Prometheus.
    dashboard_port: int | None = None
    dashboard_scrape_interval: float = 5.0
    prometheus_url: str | None = None


def check_files(parsed: ParseResult) -> tuple[ConfigError, ...]:
    """Every error (not warning) of the mesh's files, as ``mainsail validate`` finds them: a mesh
    with any is not started at all."""
    problems = [*parsed.errors, *validate_all(parsed)]
    return tuple(p for p in problems if p.is_error)


def _port_or_any(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if it is free now, else 0: the control plane then binds any free port
    itself and writes where it listens to ``controlplane.json`` (a port picked here and bound
    there could be taken in between, by anything else on a busy machine)."""
    if preferred == 0:
        return 0
    with socket.socket() as sock:
        try:
            sock.bind((host, preferred))
        except OSError:
            return 0
    return preferred


def _with_bound_ports(args: list[str], info: dict[str, Any]) -> list[str]:
    """``args`` with each port flag set to where the control plane listens
    (``controlplane.json``), so that a restarted control plane comes back on the same ports."""
    ports = {
        "--xds-port": _port_of(info.get("xds")),
        "--xds-tls-port": _port_of(info.get("xds_tls")),
        "--api-port": _port_of(info.get("api")),
        "--dashboard-port": _port_of(info.get("dashboard")),
    }
    found = list(args)
    for index, flag in enumerate(found[:-1]):
        port = ports.get(flag)
        if port is not None:
            found[index + 1] = str(port)
    return found


def _port_of(address: object) -> int | None:
    if not isinstance(address, str) or ":" not in address:
        return None
    tail = address.rsplit(":", 1)[1]
    return int(tail) if tail.isdigit() else None


def _pod_object(pod: PodSpec) -> dict[str, Any]:
    """The pod as Kubernetes would report it: what the control plane's registry reads."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "labels": dict(pod.labels),
            "annotations": dict(pod.annotations),
        },
        "spec": {
            "serviceAccountName": pod.service_account,
            "containers": [
                {
                    "name": c.name,
                    "ports": [
                        {"containerPort": p.container_port, **({"name": p.name} if p.name else {})}
                        for p in c.ports
                    ],
                }
                for c in pod.containers
            ],
        },
        "status": {"podIP": pod.ip, "phase": "Running"},
    }


class MeshLauncher:
    def __init__(self, settings: LaunchSettings, on_state: Callable[[str], None] | None = None):
        self.settings = settings
        self.home = settings.home
        self.pods: tuple[PodSpec, ...] = ()
        # Before the supervisor copies this process's environment for the apps.
        mark_as_mesh(self.home.root)
        self.supervisor = AppSupervisor(self.home.platform)
        # The mesh's own processes, restarted if they die: name → (argv, log file) and pid.
        self._daemons: dict[str, tuple[list[str], Path]] = {}
        self._pids: dict[str, int] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        # Set once this launcher owns the home (no other mesh runs from it): only then may
        # ``stop`` clean it up.
        self._owns_home = False
        self._on_state = on_state or (lambda _: None)
        self.client: ApiClient | None = None
        # The control plane's CA creates this key when it starts; pod tokens are signed with it.
        self.tokens = PodTokens(
            self.home.platform, CaLayout(self.home.root / "ca").token_signing_key
        )

    def _write_state(self, state: str, **extra: Any) -> None:
        self.home.write_json(self.home.launcher_file, {"pid": os.getpid(), "state": state, **extra})
        self._on_state(state)

    async def start(self) -> None:
        existing = self.home.read_json(self.home.launcher_file)
        if existing and existing.get("pid") != os.getpid() and pid_alive(int(existing["pid"])):
            raise LaunchError(
                f"a mesh is already running from {self.home.root} (pid {existing['pid']}); "
                "stop it with `mainsail down`"
            )
        if self.settings.cert_ttl_s < 1:
            raise LaunchError(
                f"--cert-ttl {self.settings.cert_ttl_s}: want a positive number of seconds"
            )
        parsed = load_paths(self.settings.files)
        problems = check_files(parsed)
        if problems:
            raise LaunchError("\n".join(str(e) for e in problems))
        self._owns_home = True
        self._write_state("starting")
        self.pods = self._place_pods(parsed)
        await self._start_control_plane()
        await self._apply(parsed.resources)
        await self._register_pods()
        await self._start_agent()
        for pod in self.pods:
            if pod.has_app:
                await self.supervisor.start_pod(await self._with_service_env(pod))
        await self._wait_ready()
        self._watchdog = asyncio.ensure_future(self._watch_daemons())
        self._write_state("ready", pods=[p.key for p in self.pods])

    async def _spawn(self, name: str, args: list[str], log_file: Path) -> int:
        self._daemons[name] = (args, log_file)
        process = await spawn_mainsail(args, log_file)
        self._pids[name] = process.pid
        return process.pid

    async def _watch_daemons(self) -> None:
        """Restart the control plane or node agent if either dies (as Kubernetes would), and
        re-mint pod tokens before they expire (as kubelet refreshes projected tokens)."""
        loop = asyncio.get_running_loop()
        tokens_checked = loop.time()
        while not self._stopping:
            for name, pid in list(self._pids.items()):
                if not self._stopping and not pid_alive(pid):
                    args, log_file = self._daemons[name]
                    log.warning("%s (pid %d) exited; restarting it", name, pid)
                    await self._spawn(name, args, log_file)
            if loop.time() - tokens_checked > 60:
                tokens_checked = loop.time()
                try:
                    self.tokens.refresh(self.pods)
                except PlatformError as exc:
                    log.warning("pod tokens: %s", exc)
            await asyncio.sleep(0.2)

    async def _start_control_plane(self) -> None:
        previous = self.home.read_json(self.home.control_plane_file) or {}
        if previous.get("pid") and pid_alive(int(previous["pid"])):
            await terminate(int(previous["pid"]))
        xds = _port_or_any(15010 if self.settings.xds_port is None else self.settings.xds_port)
        api = _port_or_any(15014 if self.settings.api_port is None else self.settings.api_port)
        wanted_tls = self.settings.xds_tls_port
        if wanted_tls is None:
            # Any free xDS port (tests, several meshes at once): any free TLS port as well.
            wanted_tls = 0 if self.settings.xds_port == 0 else 15012
        xds_tls = _port_or_any(wanted_tls)
        wanted = self.settings.dashboard_port
        dashboard = _port_or_any(20001 if wanted is None else wanted)
        with contextlib.suppress(FileNotFoundError):
            self.home.control_plane_file.unlink()
        args = [
            "control-plane",
            "--state-dir",
            str(self.home.root),
            "--xds-port",
            str(xds),
            "--xds-tls-port",
            str(xds_tls),
            "--api-port",
            str(api),
            "--dashboard-port",
            str(dashboard),
            "--dashboard-scrape-interval",
            str(self.settings.dashboard_scrape_interval),
        ]
        if self.settings.prometheus_url:
            args += ["--prometheus-url", self.settings.prometheus_url]
        if self.settings.mesh_config is not None:
            args += ["--mesh-config", str(self.settings.mesh_config)]
        pid = await self._spawn("control plane", args, self.home.control_plane_log)
        await self._wait(lambda: self._answering(pid), "the control plane to answer", pid)
        # A restart (``_watch_daemons``) must come back on the same ports: Envoys' bootstraps
        # and the agent know the xDS address, users the dashboard's.
        info = self.home.read_json(self.home.control_plane_file) or {}
        self._daemons["control plane"] = (
            _with_bound_ports(args, info),
            self.home.control_plane_log,
        )

    def _answering(self, pid: int) -> bool:
        """The control plane ``pid`` has written where it listens and its API answers."""
        info = self.home.read_json(self.home.control_plane_file) or {}
        if info.get("pid") != pid or not info.get("api"):
            return False
        client = ApiClient(str(info["api"]))
        try:
            client.healthz()
        except Exception:
            return False
        self.client = client
        return True

    async def _apply(self, resources: Sequence[Resource]) -> None:
        assert self.client is not None
        text = yaml.safe_dump_all([r.to_wire() for r in resources], sort_keys=False)
        try:
            await asyncio.to_thread(self.client.apply, text, "mesh")
        except ApiError as exc:
            raise LaunchError(f"the control plane refused the mesh's config: {exc}") from exc

    def _place_pods(self, parsed: ParseResult) -> tuple[PodSpec, ...]:
        resources = parsed.resources
        try:
            pool = AddressPool(self.settings.pod_network)
        except ValueError as exc:
            raise LaunchError(f"--pod-network {self.settings.pod_network!r}: {exc}") from exc
        try:
            allocations = PodAllocations(self.home.platform.allocations_file, pool)
            pods = pods_from_deployments(
                [r for r in resources if isinstance(r, Deployment)],
                allocations,
                services=[r for r in resources if isinstance(r, Service)],
                proxy_ports=self.settings.proxy_ports,
            )
        except (PlatformError, ValueError) as exc:
            raise LaunchError(_placement_error(parsed, exc)) from exc
        store = PodStore(self.home.platform)
        wanted = {p.key for p in pods}
        for stale in store.list():
            if stale.key not in wanted:
                store.remove(stale.namespace, stale.name)
        return pods

    async def _register_pods(self) -> None:
        assert self.client is not None
        text = yaml.safe_dump_all([_pod_object(p) for p in self.pods], sort_keys=False)
        if self.pods:
            await asyncio.to_thread(self.client.apply, text, "platform")
        store = PodStore(self.home.platform)
        for pod in self.pods:
            # The token first: the agent reads it as soon as it sees the pod file.
            try:
                self.tokens.write(pod)
            except PlatformError as exc:
                raise LaunchError(str(exc)) from exc
            store.write(pod)

    async def _with_service_env(self, pod: PodSpec) -> PodSpec:
        """The pod with ``<SVC>_SERVICE_HOST``/``_PORT`` for the TCP services its apps reach
        through the sidecar (the control plane assigns the ports its listeners use)."""
        assert self.client is not None
        ports = pod.proxy_ports
        reserved = [ports.admin, ports.outbound, ports.status, ports.health, ports.prometheus]
        variables = await asyncio.to_thread(
            self.client.service_env, pod.namespace, pod.ip, dict(pod.labels), reserved
        )
        return pod.model_copy(update={"env": {**pod.env, **variables}})

    async def _start_agent(self) -> None:
        info = self.home.read_json(self.home.control_plane_file) or {}
        address = info.get("xds_tls") if self.settings.xds_tls else info.get("xds")
        host, _, port = str(address or "127.0.0.1:15010").rpartition(":")
        try:
            trust_domain = load_mesh_config(self.settings.mesh_config).trust_domain
        except (OSError, ValueError) as exc:
            raise LaunchError(f"--mesh-config {self.settings.mesh_config}: {exc}") from exc
        await self._spawn(
            "node agent",
            [
                "agent",
                "--state-dir",
                str(self.home.root),
                "--xds-address",
                f"{host}:{port}",
                "--trust-domain",
                trust_domain,
                "--cert-ttl",
                str(self.settings.cert_ttl_s),
                *(["--xds-tls"] if self.settings.xds_tls else []),
            ],
            self.home.agent_log,
        )

    async def _wait_ready(self) -> None:
        async with aiohttp.ClientSession(trust_env=False) as session:

            async def proxy_ready(pod: PodSpec) -> bool:
                url = f"http://{pod.ip}:{pod.proxy_ports.status}/healthz/ready"
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                        return r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            for pod in self.pods:
                await self._wait_async(partial(proxy_ready, pod), f"the proxy of {pod.key}")
                for port in pod.app_ports.values():
                    await self._wait(partial(_listening, pod.ip, port), f"the app of {pod.key}")

    async def _wait(self, check: Callable[[], bool], what: str, pid: int | None = None) -> None:
        async def as_async() -> bool:
            return await asyncio.to_thread(check)

        await self._wait_async(as_async, what, pid)

    async def _wait_async(
        self, check: Callable[[], Any], what: str, pid: int | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ready_timeout
        while not await check():
            if pid is not None and not pid_alive(pid):
                raise LaunchError(f"gave up waiting for {what}: its process exited (see logs)")
            if loop.time() > deadline:
                raise LaunchError(
                    f"gave up waiting for {what} after {self.settings.ready_timeout:.0f}s "
                    f"(logs in {self.home.platform.logs_dir})"
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Drain and stop the proxies, then the apps, the node agent and the control plane."""
        self._stopping = True
        if not self._owns_home:
            return
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        self._write_state("stopping")
        store = PodStore(self.home.platform)
        for pod in store.list():
            store.remove(pod.namespace, pod.name)
        if "node agent" in self._pids:
            await self._wait_proxies_gone()
        await self.supervisor.stop_all()
        for name in ("node agent", "control plane"):
            if name in self._pids:
                await terminate(self._pids[name])
        with contextlib.suppress(FileNotFoundError):
            self.home.control_plane_file.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.home.launcher_file.unlink()

    async def _wait_proxies_gone(self, timeout: float = 20.0) -> None:
        proxies = self.home.root / "proxies"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            pids = [
                int(f.read_text() or 0)
                for f in proxies.glob("*/envoy.pid")
                if f.read_text().strip().isdigit()
            ]
            if not any(pid_alive(p) for p in pids):
                return
            await asyncio.sleep(0.1)


def _placement_error(parsed: ParseResult, exc: Exception) -> str:
    """The platform's error, prefixed with the file and document of the Deployment it is about."""
    if isinstance(exc, PodSpecError):
        for resource, origin in zip(parsed.resources, parsed.origins, strict=True):
            if exc.path.startswith(f"Deployment/{resource.namespace}/{resource.name}."):
                return f"{origin.file}: document {origin.document}: {exc}"
    return str(exc)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


async def run_until_signalled(launcher: MeshLauncher, on_ready: Callable[[], None]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.ensure_future(launcher.start())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({start, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            on_ready()
            await stop.wait()
        else:
            start.cancel()
    finally:
        await launcher.stop()
    return 0
