"""A whole local mesh for end-to-end tests: ``mainsail up --foreground`` in a subprocess.

It runs exactly what a user runs, on a random loopback network with OS-chosen control-plane
ports and its own state directory, so tests never collide with each other or with a demo.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mainsail.platform.pod import PodSpec
from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.testing.loopback import random_loopback_network

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LocalMesh:
    def __init__(
        self,
        files: Sequence[Path],
        home: Path,
        *,
        mesh_config: dict[str, Any] | None = None,
        ready_timeout: float = 120.0,
        cert_ttl_s: int | None = None,
        dashboard_port: int | None = 0,
        dashboard_scrape_interval: float | None = None,
        prometheus_url: str | None = None,
        xds_tls: bool = False,
    ) -> None:
        self.files = tuple(files)
        self.home = Home(home)
        self.network = random_loopback_network(24)
        self.mesh_config = mesh_config
        self.ready_timeout = ready_timeout
        # Each pod's SVID lifetime; short in tests that watch a rotation.
        self.cert_ttl_s = cert_ttl_s
        # The dashboard: any free port unless given; tests scrape every second for quick rates.
        self.dashboard_port = dashboard_port
        self.dashboard_scrape_interval = dashboard_scrape_interval
        self.prometheus_url = prometheus_url
        # Agent and Envoys on the control plane's TLS port (istiod's 15012).
        self.xds_tls = xds_tls
        self.process: subprocess.Popen[bytes] | None = None

    # --- lifecycle
    def start(self) -> LocalMesh:
        command = [
            sys.executable, "-m", "mainsail", "up", "--foreground",
            "--state-dir", str(self.home.root), "--pod-network", self.network,
            "--xds-port", "0", "--xds-tls-port", "0", "--api-port", "0",
        ]  # fmt: skip
        if self.xds_tls:
            command += ["--xds-tls"]
        if self.cert_ttl_s is not None:
            command += ["--cert-ttl", str(self.cert_ttl_s)]
        if self.dashboard_port is not None:
            command += ["--dashboard-port", str(self.dashboard_port)]
        if self.dashboard_scrape_interval is not None:
            command += ["--dashboard-scrape-interval", str(self.dashboard_scrape_interval)]
        if self.prometheus_url is not None:
            command += ["--prometheus-url", self.prometheus_url]
        if self.mesh_config is not None:
            path = self.home.root / "mesh-config.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(self.mesh_config), encoding="utf-8")
            command += ["--mesh-config", str(path)]
        for file in self.files:
            command += ["-f", str(file)]
        log = self.home.root / "launcher.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            state = self.home.read_json(self.home.launcher_file) or {}
            if state.get("state") == "ready" and state.get("pid") == self.process.pid:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"mesh exited early:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mesh not ready in {self.ready_timeout}s; see {self.home.root}/logs")

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(5)

    def __enter__(self) -> LocalMesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- looking at it
    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mainsail", *args, "--state-dir", str(self.home.root)]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=60)

    def pods(self) -> tuple[PodSpec, ...]:
        return PodStore(self.home.platform).list()

    def pod(self, prefix: str) -> PodSpec:
        found = [p for p in self.pods() if p.name.startswith(prefix)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} pods start with {prefix!r}")
        return found[0]

    def gateway_url(self, path: str = "/productpage", port: int = 8080) -> str:
        gateway = next(p for p in self.pods() if p.proxy_type == "router")
        return f"http://{gateway.ip}:{port}{path}"

    def admin(self, pod: PodSpec, path: str) -> Any:
        url = f"http://{pod.ip}:{pod.proxy_ports.admin}{path}"
        with _NO_PROXY.open(url, timeout=5) as response:
            body = response.read()
        return json.loads(body) if path.startswith("/config_dump") else body.decode()

    def control_plane_pid(self) -> int:
        info = self.home.read_json(self.home.control_plane_file) or {}
        return int(info.get("pid", 0))

    def dashboard_url(self, path: str = "") -> str:
        """The running control plane's dashboard (its endpoints file), plus ``path``."""
        info = self.home.read_json(self.home.control_plane_file) or {}
        return f"{info['dashboard']}{path}"

    def proxy_status(self) -> list[dict[str, Any]]:
        result = self.cli("proxy-status", "-o", "json", check=True)
        parsed: list[dict[str, Any]] = json.loads(result.stdout)
        return parsed


def http_get(
    url: str, *, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
