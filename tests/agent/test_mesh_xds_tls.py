"""End to end, as a user runs it (``mainsail up --xds-tls``): the agent's CSRs and every Envoy's
ADS stream go to the control plane's TLS port (istiod's 15012), verified with the root the
control plane writes under the home and Istio's ``ISTIOD_SAN``; traffic flows; the plaintext
port still serves, and a plaintext client on the TLS port gets nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for_sync
from tests.runtime.meshes import get_via_sidecar, write_mesh


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    files = [write_mesh(tmp_path_factory.mktemp("files"))]
    with LocalMesh(files, tmp_path_factory.mktemp("mesh"), xds_tls=True) as mesh:
        yield mesh


def test_proxies_sync_over_tls_and_traffic_flows(mesh: LocalMesh) -> None:
    control = mesh.home.read_json(mesh.home.control_plane_file) or {}
    tls_address = str(control["xds_tls"])
    assert tls_address != control["xds"]
    root = mesh.home.root / ROOT_CERT_PATH
    assert control["root_cert"] == str(root)
    assert root.read_text() == mesh.cli("ca", "root", "-o", "pem", check=True).stdout
    status = mesh.cli("status", check=True).stdout.splitlines()[1]
    assert status.endswith(f", xDS TLS {tls_address})")

    for pod in mesh.pods():
        bootstrap = json.loads(
            (mesh.home.root / "proxies" / pod.key / "bootstrap.json").read_text()
        )
        xds = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "xds-grpc")
        address = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        port = address["address"]["socket_address"]["port_value"]
        assert tls_address.endswith(f":{port}")
        assert xds["transport_socket"]["typed_config"]["sni"] == ISTIOD_SAN
        stats = mesh.admin(pod, "/stats?filter=^cluster.xds-grpc.ssl.handshake$")
        assert int(stats.split(": ")[1]) >= 1

    def all_synced() -> str | None:
        out = mesh.cli("proxy-status").stdout
        rows = [line for line in out.splitlines()[1:] if line.strip()]
        ok = len(rows) == len(mesh.pods()) and all(
            "STALE" not in r and "NACK" not in r for r in rows
        )
        return out if ok else None

    wait_for_sync(all_synced, timeout=60, message="every proxy SYNCED over TLS")
    client = mesh.pod("client")
    code, body = get_via_sidecar(f"http://{client.ip}:15001", "http://ratings:9080/ratings/0")
    assert code == 200, body
    # Every SVID was requested over TLS: the agent's log names no refusal or distrust.
    agent_log = mesh.home.agent_log.read_text(errors="replace")
    assert "CA not trusted" not in agent_log and "CA unreachable" not in agent_log


def test_plaintext_on_the_tls_port_gets_nothing(mesh: LocalMesh) -> None:
    control = mesh.home.read_json(mesh.home.control_plane_file) or {}
    host, _, port = str(control["xds_tls"]).rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        conn.settimeout(10)
        assert conn.recv(1024) == b""
