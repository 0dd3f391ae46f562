"""End to end, as a user runs it (``mainsail up``): every pod, sidecars and the ingress gateway,
gets an SVID from the control plane's CA through the node agent, renewed at about half of its
30 s life, and ``mainsail proxy-config secret`` shows what each Envoy holds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.cli.mesh import demo_files
from mainsail.platform import PodSpec
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for_sync
from tests.runtime.meshes import get_via_sidecar, write_mesh


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    files = [write_mesh(tmp_path_factory.mktemp("files")), demo_files()[0]]
    with LocalMesh(files, tmp_path_factory.mktemp("mesh"), cert_ttl_s=30) as mesh:
        yield mesh


def issued(mesh: LocalMesh) -> list[dict[str, str]]:
    path = mesh.home.root / "ca" / "issued.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def spiffe_id(pod: PodSpec) -> str:
    return f"spiffe://cluster.local/ns/{pod.namespace}/sa/{pod.service_account}"


def test_every_pod_gets_an_svid_and_renews_it_at_half_life(mesh: LocalMesh) -> None:
    pods = mesh.pods()
    assert {p.proxy_type for p in pods} == {"sidecar", "router"}

    def svids_per_pod(at_least: int) -> dict[str, list[dict[str, str]]] | None:
        records = issued(mesh)
        by_pod = {p.name: [r for r in records if r.get("pod") == p.name] for p in pods}
        return by_pod if all(len(v) >= at_least for v in by_pod.values()) else None

    first = wait_for_sync(lambda: svids_per_pod(1), timeout=30, message="one SVID per pod")
    assert first is not None
    for pod in pods:
        assert first[pod.name][0]["spiffe_id"] == spiffe_id(pod)
    ratings = mesh.pod("ratings")
    envoy_pid = (mesh.home.root / "proxies" / ratings.key / "envoy.pid").read_text().strip()
    held = wait_for_sync(lambda: served_serial(mesh, ratings), timeout=30, message="SVID held")
    assert held == first[ratings.name][0]["serial"]
    # 30 s certificates are renewed after about 15 s (±1 %), with a new serial.
    renewed = wait_for_sync(lambda: svids_per_pod(2), timeout=45, message="renewed SVIDs")
    assert renewed is not None
    for pod in pods:
        serials = [r["serial"] for r in renewed[pod.name]]
        assert len(set(serials)) == len(serials)
    # The renewed SVID reached the running Envoy over SDS: new serial, same process.
    renewed_serial = wait_for_sync(
        lambda: served_serial(mesh, ratings, other_than=held), timeout=30, message="pushed"
    )
    assert renewed_serial in {r["serial"] for r in issued(mesh) if r.get("pod") == ratings.name}
    pid_now = (mesh.home.root / "proxies" / ratings.key / "envoy.pid").read_text().strip()
    assert pid_now == envoy_pid


def served_serial(mesh: LocalMesh, pod: PodSpec, other_than: str | None = None) -> str | None:
    result = mesh.cli("proxy-config", "secret", pod.name)
    for line in result.stdout.splitlines()[1:]:
        cells = re.split(r" {3,}", line.strip())
        if cells[0] == "default" and cells[2] == "ACTIVE" and cells[4] != other_than:
            return cells[4]
    return None


def test_tokens_are_private_and_agent_logs_no_refusal(mesh: LocalMesh) -> None:
    for pod in mesh.pods():
        token = mesh.home.root / "pods" / f"{pod.key}.token"
        assert token.stat().st_mode & 0o777 == 0o600
    log = (mesh.home.root / "logs" / "node-agent.log").read_text(errors="replace")
    assert "CSR refused" not in log


def test_proxy_config_secret_shows_what_envoy_holds(mesh: LocalMesh) -> None:
    ratings = mesh.pod("ratings")
    result = mesh.cli("proxy-config", "secret", ratings.name)
    assert result.returncode == 0, result.stderr
    lines = [
        re.split(r" {3,}", line.strip()) for line in result.stdout.splitlines() if line.strip()
    ]
    assert lines[0] == [
        "RESOURCE NAME",
        "TYPE",
        "STATUS",
        "VALID CERT",
        "SERIAL NUMBER",
        "NOT AFTER",
        "NOT BEFORE",
    ]
    as_json = mesh.cli("proxy-config", "secret", ratings.name, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    json.loads(as_json.stdout)
    rows = {row[0]: row for row in lines[1:]}
    # Auto mTLS (the pods carry tlsMode=istio) makes every sidecar use ``default``/``ROOTCA``.
    serials = {r["serial"] for r in issued(mesh) if r.get("pod") == ratings.name}
    assert rows["default"][1] == "Cert Chain" and rows["default"][4] in serials
    assert rows["default"][2:4] == ["ACTIVE", "true"]
    assert rows["ROOTCA"][1:4] == ["CA", "ACTIVE", "true"]


def test_the_svids_carry_mutual_tls_between_sidecars(mesh: LocalMesh) -> None:
    client, ratings = mesh.pod("client"), mesh.pod("ratings")
    proxy = f"http://{client.ip}:{client.proxy_ports.outbound}"

    def ok() -> bool:
        status, _ = get_via_sidecar(proxy, "http://ratings:9080/ratings/0")
        return status == 200

    wait_for_sync(ok, timeout=30, message="client -> ratings through both sidecars")
    # Both ends did a TLS handshake: the client's cluster to ratings, ratings' inbound listener.
    assert max(stat_values(mesh.admin(client, "/stats?filter=ratings.*ssl.handshake"))) >= 1
    assert max(stat_values(mesh.admin(ratings, "/stats?filter=ssl.handshake"))) >= 1


def stat_values(text: str) -> list[int]:
    values = [line.rpartition(": ")[2] for line in text.splitlines()]
    return [int(v) for v in values if v.isdigit()] or [0]


def test_each_envoy_dials_its_own_private_sds_socket(mesh: LocalMesh) -> None:
    sockets = set()
    for pod in mesh.pods():
        bootstrap = json.loads(
            (mesh.home.root / "proxies" / pod.key / "bootstrap.json").read_text()
        )
        clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
        endpoint = clusters["sds-grpc"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
        socket = Path(endpoint["endpoint"]["address"]["pipe"]["path"])
        assert socket.is_socket() and socket.stat().st_mode & 0o777 == 0o600
        sockets.add(socket)
    assert len(sockets) == len(mesh.pods())


def test_root_rotation_keeps_mutual_tls_working(mesh: LocalMesh) -> None:
    """``mainsail ca rotate-root``: the next renewals bring both roots to every Envoy's ROOTCA,
    then certificates signed by the new root; requests between sidecars keep succeeding."""
    client, ratings = mesh.pod("client"), mesh.pod("ratings")
    proxy = f"http://{client.ip}:{client.proxy_ports.outbound}"
    rotated = mesh.cli("ca", "rotate-root", "--overlap", "10m")
    assert rotated.returncode == 0, rotated.stderr
    failures: list[int] = []

    def both_roots_everywhere() -> bool:
        status, _ = get_via_sidecar(proxy, "http://ratings:9080/ratings/0")
        if status != 200:
            failures.append(status)
        return all(root_rows(mesh, pod) == 2 for pod in (client, ratings))

    wait_for_sync(both_roots_everywhere, timeout=45, interval=0.2, message="two roots")
    assert failures == []


def root_rows(mesh: LocalMesh, pod: PodSpec) -> int:
    result = mesh.cli("proxy-config", "secret", pod.name)
    rows = [re.split(r" {3,}", line.strip()) for line in result.stdout.splitlines()[1:]]
    return sum(1 for r in rows if r[0] == "ROOTCA" and r[2] == "ACTIVE")
