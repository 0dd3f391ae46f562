"""Istio's TCP traffic shifting task with real Envoys: all of tcp-echo to v1, then 80/20 between
v1 and v2, through the client sidecar's ``TCP_ECHO`` listener (``<SVC>_SERVICE_HOST/_PORT``)."""

from __future__ import annotations

import json
import math
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e.helpers import wait_until

MESH = Path(__file__).with_name("shifting.yaml")
Z_999 = 3.29  # two-sided 99.9 %

ALL_V1 = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route: [{destination: {host: tcp-echo, port: {number: 9000}, subset: v1}}]
"""

EIGHTY_TWENTY = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo}
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{port: 9000}]
    route:
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: 20}
"""


@pytest.fixture(scope="module")
def shifting_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("tcp-shift")) as mesh:
        yield mesh


def _apply(mesh: LocalMesh, text: str, tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(text)
    mesh.cli("apply", "-f", str(path), check=True)


def _tcp_echo_address(mesh: LocalMesh) -> tuple[str, int]:
    """The sleep sidecar's tcp-echo listener (what its app gets as TCP_ECHO_SERVICE_HOST/_PORT;
    ``test_tcp_services`` checks that the two agree)."""
    sleep = mesh.pod("sleep")
    for config in mesh.admin(sleep, "/config_dump")["configs"]:
        for item in config.get("dynamic_listeners", []):
            listener = item["active_state"]["listener"]
            if "tcp-echo" in json.dumps(listener):
                socket_address = listener["address"]["socket_address"]
                return socket_address["address"], int(socket_address["port_value"])
    raise LookupError("no tcp-echo listener on the sleep sidecar")


def _prefix(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"hi\n")
        return conn.makefile().readline().split(" ", 1)[0]


def _prefixes(address: tuple[str, int], n: int) -> Counter[str]:
    return Counter(_prefix(address) for _ in range(n))


def _listener_weights(mesh: LocalMesh) -> str:
    return json.dumps(mesh.admin(mesh.pod("sleep"), "/config_dump?resource=dynamic_listeners"))


def test_tcp_traffic_shifting_80_20(shifting_mesh: LocalMesh, tmp_path: Path) -> None:
    address = _tcp_echo_address(shifting_mesh)
    assert set(_prefixes(address, 20)) <= {"one", "two"}
    _apply(shifting_mesh, ALL_V1, tmp_path)
    wait_until(lambda: set(_prefixes(address, 10)) == {"one"}, 10, "all of tcp-echo to v1")
    _apply(shifting_mesh, EIGHTY_TWENTY, tmp_path)
    wait_until(
        lambda: '"weight": 20' in _listener_weights(shifting_mesh),
        10,
        "80/20 weights on the sidecar",
    )
    n = 200
    seen = _prefixes(address, n)
    assert set(seen) == {"one", "two"}
    margin = Z_999 * math.sqrt(n * 0.8 * 0.2)
    assert abs(seen["one"] - n * 0.8) <= margin, seen
