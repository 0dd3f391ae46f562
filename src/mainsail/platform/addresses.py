"""Pod addresses from a loopback pool, and the private app ports, kept across restarts.

Linux routes all of 127.0.0.0/8 to ``lo``, so each pod can have its own address and every
sidecar can use the same well-known ports. Allocations are persisted in one JSON file so a
restarted platform gives a pod back the address (and app ports) it had.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mainsail.platform.errors import AddressPoolExhausted
from mainsail.platform.ports import free_port

DEFAULT_POD_NETWORK = "127.128.0.0/16"


@dataclass(frozen=True, slots=True)
class AddressPool:
    """The addresses a pod may get: the network's hosts, minus those ending in .0 or .255."""

    network: str = DEFAULT_POD_NETWORK

    def __post_init__(self) -> None:
        net = ipaddress.IPv4Network(self.network)
        if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
            raise ValueError(f"pod network {self.network} is not a loopback network")

    def first_free(self, taken: set[str]) -> str:
        for host in ipaddress.IPv4Network(self.network).hosts():
            last = int(host) & 0xFF
            if last in (0, 255):
                continue
            text = str(host)
            if text not in taken:
                return text
        raise AddressPoolExhausted(f"no free address left in {self.network}")


class PodAllocations:
    """The persisted address and app ports of each pod (key: ``<namespace>.<pod>``).

    Safe across processes: every change holds an exclusive lock on ``<file>.lock``.
    """

    def __init__(
        self,
        path: Path,
        pool: AddressPool | None = None,
        *,
        port_finder: Callable[[str], int] = free_port,
    ) -> None:
        self._path = path
        self._pool = pool or AddressPool()
        self._port_finder = port_finder

    def address(self, pod_key: str) -> str:
        with self._locked() as state:
            entry = state.setdefault(pod_key, {})
            if "ip" not in entry:
                taken = {str(e["ip"]) for e in state.values() if "ip" in e}
                entry["ip"] = self._pool.first_free(taken)
            return str(entry["ip"])

    def app_port(self, pod_key: str, container_port: int) -> int:
        """The private port for ``container_port``, chosen free on the pod address the first time."""
        ip = self.address(pod_key)
        with self._locked() as state:
            ports = state[pod_key].setdefault("app_ports", {})
            if str(container_port) not in ports:
                ports[str(container_port)] = self._port_finder(ip)
            return int(ports[str(container_port)])

    def release(self, pod_key: str) -> None:
        with self._locked() as state:
            state.pop(pod_key, None)

    def snapshot(self) -> dict[str, str]:
        """Pod key -> address, as persisted."""
        return {key: str(entry["ip"]) for key, entry in self._read().items() if "ip" in entry}

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self._path}: want a JSON object")
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self._path.with_name(self._path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                tmp = self._path.with_name(self._path.name + f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
                os.replace(tmp, self._path)
