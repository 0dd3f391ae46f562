"""Sidecar ``ingress`` with ``defaultEndpoint`` and ``port``, and WorkloadEntries selected by a
ServiceEntry's ``workloadSelector``, with real Envoys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.mesh import http_get
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for
from tests.e2e_more.helpers import apply_until, pod_of
from tests.e2e_traffic.helpers import Traffic

INGRESS_PORT = 9999  # declared by the Sidecar only: no Service or container port says it

SIDECAR = f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: ingress-app}}
spec:
  workloadSelector: {{labels: {{app: ingress-app}}}}
  ingress:
  - port: {{number: {INGRESS_PORT}, protocol: HTTP, name: http-custom}}
    defaultEndpoint: 127.0.0.1:8080
"""


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_sidecar_ingress_listener_forwards_to_the_default_endpoint(traffic: Traffic) -> None:
    app = traffic.mesh.pod("ingress-app")
    assert _refused(app.ip, INGRESS_PORT)
    await apply_until(
        traffic,
        SIDECAR,
        lambda: http_get(f"http://{app.ip}:{INGRESS_PORT}/direct")[0] == 200,
        f"the Sidecar's ingress listener on {app.ip}:{INGRESS_PORT}",
    )
    # A mesh client reaches it by a name for that address and port.
    entry = f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: ingress-app}}
spec:
  hosts: [ingress-app.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {app.ip}, ports: {{http: {INGRESS_PORT}}}}}]
"""
    await traffic.apply(entry)
    reply = await traffic.get("http://ingress-app.example/through/the/mesh")
    assert pod_of(reply) == app.name
    assert reply.json()["path"] == "/through/the/mesh"
    stats = traffic.stats(app, f"inbound\\|{INGRESS_PORT}\\|\\|.*upstream_rq_2xx")
    assert sum(stats.values()) >= 2, stats  # both requests went through the ingress listener


class OutsideEcho:
    """``python -m mainsail.samples.echo`` on a random loopback address, outside the mesh."""

    def __init__(self, version: str) -> None:
        self.host = random_loopback_address()
        self.port = free_port(self.host)
        env = {**os.environ, "INSTANCE_IP": self.host, "PORT": str(self.port)}
        env["SERVICE_VERSION"] = version
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mainsail.samples.echo"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def up(self) -> bool:
        try:
            return http_get(f"http://{self.host}:{self.port}/health")[0] == 200
        except OSError:
            return False


@pytest.fixture
async def outside() -> AsyncIterator[list[OutsideEcho]]:
    servers = [OutsideEcho("vm-1"), OutsideEcho("vm-2")]
    for server in servers:
        await wait_for(server.up, timeout=10, message=f"echo on {server.host}:{server.port}")
    yield servers
    for server in servers:
        server.process.terminate()
        server.process.wait(10)


async def test_service_entry_selects_workload_entries(
    traffic: Traffic, outside: list[OutsideEcho]
) -> None:
    entries = "".join(
        f"""
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: vm-{i}}}
spec:
  address: {server.host}
  labels: {{app: legacy, version: vm-{i}}}
  ports: {{http: {server.port}}}
"""
        for i, server in enumerate(outside, 1)
    )
    entries += """
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: unrelated}
spec:
  address: 192.0.2.10
  labels: {app: other}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy}
spec:
  hosts: [legacy.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  workloadSelector: {labels: {app: legacy}}
"""
    await traffic.apply(entries)

    def endpoints() -> set[str]:
        clusters = str(traffic.mesh.admin(traffic.client, "/clusters"))
        prefix = "outbound|80||legacy.example::"
        return {
            line[len(prefix) :].split("::")[0]
            for line in clusters.splitlines()
            if line.startswith(prefix) and "::health_flags::" in line
        }

    wanted = {f"{s.host}:{s.port}" for s in outside}
    await wait_for(lambda: endpoints() == wanted, timeout=10, message=f"endpoints {wanted}")
    replies = await traffic.many("http://legacy.example/vm?x=1", 40)
    assert {r.status for r in replies} == {200}, [r.body for r in replies if r.status != 200][:2]
    # Both selected entries answer (each at its own port); the unrelated one is never tried.
    assert {r.version for r in replies} == {"vm-1", "vm-2"}
    assert {r.json()["headers"]["host"] for r in replies} == {"legacy.example"}
    table = traffic.mesh.cli("proxy-config", "endpoint", traffic.client.name, check=True).stdout
    legacy = sorted(line.split()[0] for line in table.splitlines() if "legacy.example" in line)
    assert legacy == sorted(f"{s.host}:{s.port}" for s in outside), table
