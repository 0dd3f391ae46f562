"""Locality failover with real Envoys: the client's own locality is preferred; when its endpoint's
app stops, outlier detection ejects it and traffic fails over to the other locality."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from mainsail.testing.processes import processes_mentioning
from tests.e2e.helpers import wait_until

from .test_egress import _through

MESH = Path(__file__).with_name("locality.yaml")
URL = "http://echo:8080/"


@pytest.fixture(scope="module")
def locality_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("locality")) as mesh:
        yield mesh


def _versions(mesh: LocalMesh, n: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(n):
        status, body = _through(mesh, URL)
        seen[str(body.get("version")) if status == 200 else str(status)] += 1
    return seen


def _app_pid(ip: str) -> int:
    for pid in processes_mentioning("mainsail.samples.echo"):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"POD_IP={ip}".encode() in environ:
            return pid
    raise LookupError(ip)


def test_local_endpoint_preferred_then_failover_when_it_stops(locality_mesh: LocalMesh) -> None:
    mesh = locality_mesh
    assert _versions(mesh, 30) == {"near": 30}
    os.kill(_app_pid(mesh.pod("echo-near").ip), signal.SIGKILL)
    wait_until(lambda: _versions(mesh, 10) == {"far": 10}, 15, "failover to region-b")
    # ejected for baseEjectionTime: even once its app is back, the far locality serves
    assert _versions(mesh, 30) == {"far": 30}
    endpoints = mesh.cli("proxy-config", "endpoint", "sleep", "-o", "json").stdout
    assert "region-b" in endpoints
