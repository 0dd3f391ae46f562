"""TCP services on the local platform: the app dials ``<SVC>_SERVICE_HOST:_PORT`` (its own
sidecar's listener) and reaches the service through the mesh."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from mainsail.testing.processes import processes_mentioning


@pytest.fixture(scope="module")
def tcp_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    sample = Path(str(resources.files("mainsail.samples.tcp_echo").joinpath("tcp-echo.yaml")))
    with LocalMesh([sample], tmp_path_factory.mktemp("tcp")) as mesh:
        yield mesh


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_client_reaches_tcp_service_through_announced_sidecar_listener(tcp_mesh: LocalMesh) -> None:
    sleep = tcp_mesh.pod("sleep")
    [pid] = [
        p for p in processes_mentioning("signal.pause()") if _environ(p).get("POD_IP") == sleep.ip
    ]
    env = _environ(pid)
    host, port = env["TCP_ECHO_SERVICE_HOST"], int(env["TCP_ECHO_SERVICE_PORT"])
    assert host == sleep.ip  # the client's own sidecar, not the server
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"world\n")
        assert conn.makefile().readline() == "hello world\n"
    listeners = tcp_mesh.cli("proxy-config", "listener", "sleep").stdout
    assert f"{sleep.ip}_{port}" in listeners
