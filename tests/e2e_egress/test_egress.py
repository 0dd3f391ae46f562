"""Egress with real Envoys: an "external" echo server on loopback, outside the mesh, reached
through the client sidecar's HTTP proxy — by any name under ALLOW_ANY (the dynamic forward
proxy), blocked with 502 under REGISTRY_ONLY until a ServiceEntry (STATIC: a name for an IP;
DNS: a name elevated into the mesh) makes it known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.ports import free_port
from tests.e2e.helpers import wait_until

CLIENT = Path(__file__).with_name("client.yaml")


class External:
    """``python -m mainsail.samples.echo`` on ``host:port``, not part of any mesh."""

    def __init__(self, host: str, version: str) -> None:
        self.host, self.port = host, free_port(host)
        env = {**os.environ, "INSTANCE_IP": host, "PORT": str(self.port)}
        env["SERVICE_VERSION"] = version
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mainsail.samples.echo"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._up, 10, f"external echo on {host}:{self.port}")

    def _up(self) -> bool:
        try:
            return _get(f"http://{self.host}:{self.port}/health", None)[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def _get(url: str, proxy: str | None) -> tuple[int, dict[str, Any]]:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy} if proxy else {})
    )
    try:
        with opener.open(url, timeout=10) as response:
            body = response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {}


def _through(mesh: LocalMesh, url: str) -> tuple[int, dict[str, Any]]:
    client = mesh.pod("sleep")
    return _get(url, f"http://{client.ip}:{client.proxy_ports.outbound}")


@pytest.fixture(scope="module")
def external() -> Iterator[External]:
    server = External(random_loopback_address(), "external")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def on_localhost() -> Iterator[External]:
    server = External("127.0.0.1", "localhost")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def allow_any_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([CLIENT], tmp_path_factory.mktemp("allow-any")) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def registry_only_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    policy = {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}
    with LocalMesh([CLIENT], tmp_path_factory.mktemp("registry-only"), mesh_config=policy) as mesh:
        yield mesh


def test_allow_any_reaches_an_unregistered_host_by_address_and_by_name(
    allow_any_mesh: LocalMesh, external: External, on_localhost: External
) -> None:
    status, body = _through(allow_any_mesh, f"http://{external.host}:{external.port}/x")
    assert (status, body.get("version"), body.get("path")) == (200, "external", "/x")
    status, body = _through(allow_any_mesh, f"http://localhost:{on_localhost.port}/")
    assert (status, body.get("version")) == (200, "localhost")  # resolved by the DNS cache
    stats = allow_any_mesh.admin(allow_any_mesh.pod("sleep"), "/stats?filter=PassthroughCluster")
    assert "upstream_rq_200" in stats


def test_registry_only_blocks_then_service_entries_let_it_out(
    registry_only_mesh: LocalMesh, external: External, on_localhost: External, tmp_path: Path
) -> None:
    mesh = registry_only_mesh
    assert _through(mesh, f"http://{external.host}:{external.port}/")[0] == 502
    assert _through(mesh, "http://api.external.test/")[0] == 502
    entries = f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: name-for-an-ip}}
spec:
  hosts: [api.external.test]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {external.host}, ports: {{http: {external.port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: dns-name}}
spec:
  hosts: [search.external.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  endpoints: [{{address: localhost, ports: {{http: {on_localhost.port}}}}}]
"""
    path = tmp_path / "entries.yaml"
    path.write_text(entries)
    mesh.cli("apply", "-f", str(path), check=True)
    wait_until(
        lambda: _through(mesh, "http://api.external.test/")[0] == 200, 10, "STATIC entry in use"
    )
    status, body = _through(mesh, "http://api.external.test/a?b=1")
    assert (status, body.get("version"), body.get("query")) == (200, "external", {"b": "1"})
    assert body["headers"]["host"] == "api.external.test"
    wait_until(
        lambda: _through(mesh, "http://search.external.test:8080/")[0] == 200, 10, "DNS entry"
    )
    assert _through(mesh, "http://search.external.test:8080/")[1].get("version") == "localhost"
    # still blocked: anything not registered
    assert _through(mesh, f"http://{external.host}:{external.port}/")[0] == 502
