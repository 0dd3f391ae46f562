"""Certificate rotation with real Envoys, the real CA and real handshakes, under steady traffic:
30-second SVIDs renewed at about half their life, and the CA stopped for longer than a renewal
interval.

The mesh is its own (``LocalMesh(cert_ttl_s=30)`` with ``mesh.yaml``'s ``client`` and
``server``), in STRICT mutual TLS. The load goes from the test process through the client's
sidecar (outbound) to the server's sidecar (inbound, mTLS) to the echo app. A DestinationRule
caps the client sidecar's requests per upstream connection, so new handshakes keep happening
during the load: without it one pooled connection, opened with the first certificate, would
carry every request and no later certificate would ever be presented.

What is observed, on both sides:

- each Envoy's ``default`` secret, read from its admin ``/config_dump`` (what
  ``mainsail proxy-config secret`` shows): the serial it holds, sampled every second;
- the certificate the server's sidecar presents, from a TLS handshake the test makes with a
  client certificate of the mesh root (the serial of the peer certificate);
- the certificate the client's sidecar presents, from ``x-forwarded-client-cert`` as the server
  app receives it (``Hash=`` is the SHA-256 of the presented certificate);
- the CA's ledger (``<home>/ca/issued.jsonl``): every serial seen must be one it issued to that
  pod.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mainsail.api.client import ApiClient
from mainsail.platform.pod import PodSpec
from mainsail.testing.load import LoadLoop, LoadResult
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for, wait_for_sync
from tests.e2e_security.helpers import (
    XFCC,
    Certificate,
    make_svid,
    mesh_root,
    refused_plaintext,
)

MESH = Path(__file__).with_name("mesh.yaml")
CERT_TTL_S = 30
LOAD_S = 120.0
SERVER_HOST = "server.default.svc.cluster.local"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"
# STRICT for the namespace; the DestinationRule only limits requests per connection (no `tls`:
# auto mTLS stays on), so the client's sidecar opens a new mTLS connection every 10 requests.
POLICIES = f"""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: default}}
spec:
  mtls: {{mode: STRICT}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: server, namespace: default}}
spec:
  host: {SERVER_HOST}
  trafficPolicy:
    connectionPool:
      http: {{maxRequestsPerConnection: 10}}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("rotation"), cert_ttl_s=CERT_TTL_S) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def strict(mesh: LocalMesh) -> LocalMesh:
    """The mesh once both sidecars hold the STRICT policy and the DestinationRule, and the
    server's port really refuses plaintext."""
    info = mesh.home.read_json(mesh.home.control_plane_file) or {}
    ApiClient(str(info["api"])).apply(POLICIES, "test")
    server, client = mesh.pod("server"), mesh.pod("client")

    def held() -> bool:
        chains = inbound_transports(mesh, server, 8080)
        cluster = json.dumps(mesh.admin(client, "/config_dump?resource=dynamic_active_clusters"))
        return chains == ["tls"] and '"max_requests_per_connection": 10' in cluster

    wait_for_sync(held, timeout=30, interval=0.2, message="STRICT and the DestinationRule held")
    assert asyncio.run(refused_plaintext((server.ip, 8080)))
    return mesh


def inbound_transports(mesh: LocalMesh, pod: PodSpec, port: int) -> list[str]:
    dump = mesh.admin(pod, "/config_dump?resource=dynamic_listeners")
    for item in dump["configs"]:
        if item.get("name") == f"{pod.ip}_{port}" and "active_state" in item:
            chains = item["active_state"]["listener"].get("filter_chains", [])
            return [c.get("filter_chain_match", {}).get("transport_protocol", "") for c in chains]
    return []


# --- what is observed


def issued_serials(mesh: LocalMesh, pod: PodSpec) -> dict[int, dict[str, Any]]:
    """The CA's ledger for ``pod``: serial → record."""
    path = mesh.home.root / "ca" / "issued.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {int(r["serial"], 16): r for r in records if r.get("pod") == pod.name}


def held_serial(mesh: LocalMesh, pod: PodSpec) -> int | None:
    """The serial of the leaf of the ``default`` secret the pod's Envoy holds (its admin
    ``/config_dump``, the source of ``mainsail proxy-config secret``)."""
    dump = mesh.admin(pod, "/config_dump?resource=dynamic_active_secrets")
    for item in dump["configs"]:
        if item.get("name") != "default":
            continue
        chain = item["secret"]["tls_certificate"]["certificate_chain"]
        pem = chain["inline_bytes"] if "inline_bytes" in chain else chain["inline_string"]
        text = base64.b64decode(pem) if "inline_bytes" in chain else pem.encode()
        return int(x509.load_pem_x509_certificate(text).serial_number)
    return None


def presented_serial(address: tuple[str, int], tmp: Path) -> int:
    """A TLS handshake with the server's sidecar, as a mesh client (``client`` is signed by the
    mesh root), and one request over it: the serial of the certificate the server presented.
    Raises when the handshake or the request fails."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the SVID has only a SPIFFE URI SAN
    context.load_verify_locations(cadata=(tmp / "root.pem").read_text())
    context.load_cert_chain(tmp / "probe.pem", tmp / "probe-key.pem")
    context.set_alpn_protocols(["istio"])
    with (
        socket.create_connection(address, timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {SERVER_HOST}\r\nConnection: close\r\n\r\n".encode())
        status_line = tls.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 200"), status_line
    peer = x509.load_der_x509_certificate(der)
    san = peer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [SERVER_ID]
    return int(peer.serial_number)


def write_probe(mesh: LocalMesh, tmp: Path) -> Certificate:
    """A client certificate of the mesh root, for the test's own handshakes."""
    root = mesh_root(mesh)
    probe = make_svid(root, "spiffe://cluster.local/ns/default/sa/probe")
    (tmp / "root.pem").write_bytes(root.cert_pem)
    (tmp / "probe.pem").write_bytes(probe.cert_pem)
    (tmp / "probe-key.pem").write_bytes(probe.key_pem)
    return probe


def presented_client_certs(result: LoadResult) -> set[str]:
    """The ``Hash=`` of every client certificate the server's sidecar received (from the
    ``x-forwarded-client-cert`` each answered request carried to the app)."""
    hashes = set()
    for body in result.bodies:
        xfcc = json.loads(body)["headers"].get(XFCC, "")
        fields = dict(part.split("=", 1) for part in xfcc.split(";") if "=" in part)
        assert fields.get("URI") == CLIENT_ID, xfcc
        hashes.add(fields["Hash"])
    return hashes


@dataclass(slots=True)
class Observed:
    held: dict[str, list[int]] = field(default_factory=lambda: {"client": [], "server": []})
    presented: list[int] = field(default_factory=list)
    probe_errors: list[str] = field(default_factory=list)

    def sample(self, mesh: LocalMesh, pods: dict[str, PodSpec], tmp: Path) -> None:
        for name, pod in pods.items():
            try:
                serial = held_serial(mesh, pod)
            except OSError:
                continue  # an admin API slow under load is no failed request: sample again
            if serial is not None and serial not in self.held[name][-1:]:
                self.held[name].append(serial)
        try:
            serial = presented_serial((pods["server"].ip, 8080), tmp)
        except (OSError, AssertionError) as error:
            self.probe_errors.append(repr(error))
            return
        if serial not in self.presented[-1:]:
            self.presented.append(serial)


def envoy_pids(mesh: LocalMesh) -> dict[str, str]:
    """Each pod's Envoy process, as the node agent recorded it."""
    return {
        pod.name: (mesh.home.root / "proxies" / pod.key / "envoy.pid").read_text().strip()
        for pod in mesh.pods()
    }


def load_through_client(mesh: LocalMesh) -> LoadLoop:
    client = mesh.pod("client")
    return LoadLoop(
        f"http://{SERVER_HOST}:8080/",
        concurrency=2,
        proxy=f"http://{client.ip}:{client.proxy_ports.outbound}",
    )


async def test_rotation_under_load_fails_no_request(strict: LocalMesh, tmp_path: Path) -> None:
    """Two minutes of traffic with 30 s certificates: about eight renewals per pod, every one
    pushed to the running Envoy and presented on new connections, and no request fails."""
    mesh = strict
    pods = {"client": mesh.pod("client"), "server": mesh.pod("server")}
    write_probe(mesh, tmp_path)
    observed = Observed()
    envoys = envoy_pids(mesh)
    async with load_through_client(mesh) as load:
        await load.wait_for(20, timeout=30)
        started = time.monotonic()
        # Sampling once a second is the work of this loop, not a wait for a condition.
        while time.monotonic() - started < LOAD_S:
            await asyncio.to_thread(observed.sample, mesh, pods, tmp_path)
            await asyncio.sleep(1.0)
    result = load.result
    print(  # the figures, for `pytest -rP`
        f"rotation: {result.total} requests, {result.failures} failed; serials held: "
        f"{ {n: len(set(h)) for n, h in observed.held.items()} }, presented by the server: "
        f"{len(set(observed.presented))}, client certificates in XFCC: "
        f"{len(presented_client_certs(result))}"
    )
    assert result.failures == 0, (result.statuses, result.errors)
    assert result.total >= 1000, result.total
    assert observed.probe_errors == []
    # 120 s / ~15 s per renewal: 8 or 9 certificates each; at least 6 distinct ones seen.
    for name, pod in pods.items():
        ledger = issued_serials(mesh, pod)
        held = observed.held[name]
        assert len(set(held)) >= 6, (name, held)
        assert set(held) <= set(ledger), (name, held, sorted(ledger))
    server_ledger = issued_serials(mesh, pods["server"])
    assert len(set(observed.presented)) >= 6, observed.presented
    assert set(observed.presented) <= set(server_ledger)
    # The client's sidecar presented its renewed certificates too (one Hash per certificate).
    assert len(presented_client_certs(result)) >= 6
    # Every certificate reached the running Envoys over SDS: no Envoy was restarted.
    assert envoy_pids(mesh) == envoys


# --- the CA stopped


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (the launcher's daemons), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry))
    return found


def agent_pid(mesh: LocalMesh) -> int:
    assert mesh.process is not None
    for pid in child_pids(mesh.process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent" in argv and str(mesh.home.root).encode() in argv:
            return pid
    raise LookupError(f"no node agent among the children of launcher {mesh.process.pid}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by the launcher) is not alive either.
    state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    return state != "Z"


def agent_log(mesh: LocalMesh) -> str:
    return (mesh.home.root / "logs" / "node-agent.log").read_text(errors="replace")


def renewed_since(mesh: LocalMesh, pods: list[PodSpec], since: float) -> bool:
    """Every pod got a certificate from the CA issued after ``since`` (epoch seconds), and its
    Envoy holds it."""
    for pod in pods:
        ledger = issued_serials(mesh, pod)
        fresh = {
            serial
            for serial, record in ledger.items()
            if _epoch(record["not_before"]) >= int(since)
        }
        if held_serial(mesh, pod) not in fresh:
            return False
    return True


def _epoch(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


async def test_ca_down_longer_than_a_renewal_interval_fails_no_request(
    strict: LocalMesh,
) -> None:
    """The CA is the control plane (its CSR service is on the xDS gRPC server), so stopping the
    CA stops the control plane: it is killed (SIGKILL) and kept down (the launcher, which
    would restart it at once, is paused) for longer than half a certificate's life, across
    a renewal every pod fails. Envoy keeps its last xDS config and its current certificate;
    traffic continues; once the control plane is back each pod renews (new serial)."""
    mesh = strict
    pods = [mesh.pod("client"), mesh.pod("server")]
    launcher = mesh.process
    assert launcher is not None
    envoys = envoy_pids(mesh)
    async with load_through_client(mesh) as load:
        await load.wait_for(20, timeout=30)
        # Line the pods' renewals up: a restarted node agent is stateless and gets every pod a
        # new certificate at once (new keys), so one outage covers each pod's renewal while
        # its certificate still has half its life. Without this the pods' renewal phases are
        # independent and an outage longer than half the life can end after one pod's retry
        # back-off (1, 2, 4, 8 s) has skipped past its certificate's expiry.
        restarted_at = time.time()
        old_agent = agent_pid(mesh)
        os.kill(old_agent, signal.SIGKILL)
        await wait_for(
            lambda: renewed_since(mesh, pods, restarted_at),
            timeout=30,
            interval=0.2,
            message="a restarted node agent got every pod a new SVID, held by its Envoy",
        )
        renewed_at = time.time()
        before_outage = load.result.total
        control_plane = mesh.control_plane_pid()
        log_offset = len(agent_log(mesh))
        os.kill(launcher.pid, signal.SIGSTOP)
        try:
            os.kill(control_plane, signal.SIGKILL)
            down_at = time.monotonic()

            def every_pod_failed_to_renew() -> bool:
                failures = [
                    line
                    for line in agent_log(mesh)[log_offset:].splitlines()
                    if "CA unreachable" in line and "keeping the current certificate" in line
                ]
                return all(any(pod.name in line for line in failures) for pod in pods)

            await wait_for(
                every_pod_failed_to_renew,
                timeout=CERT_TTL_S,
                interval=0.2,
                message="a failed renewal for every pod in the agent log",
            )
            # Down for longer than half a certificate's life (the renewal interval).
            await wait_for(
                lambda: time.monotonic() - down_at > CERT_TTL_S / 2 + 1,
                timeout=CERT_TTL_S,
                interval=0.1,
                message="the outage outlasting a renewal interval",
            )
            during_outage = load.result.total - before_outage
            failures_during_outage = load.result.failures
        finally:
            os.kill(launcher.pid, signal.SIGCONT)
        await wait_for(
            lambda: mesh.control_plane_pid() not in (0, control_plane),
            timeout=30,
            interval=0.1,
            message="the launcher restarted the control plane",
        )
        await wait_for(
            lambda: renewed_since(mesh, pods, renewed_at + 1),
            timeout=CERT_TTL_S / 2,
            interval=0.2,
            message="every pod renewed once the CA was back, and its Envoy holds it",
        )
        await load.wait_for(20, timeout=30)
    result = load.result
    print(  # the figures, for `pytest -rP`
        f"CA down: {during_outage} requests during the outage, {result.total} in all, "
        f"{result.failures} failed"
    )
    assert during_outage >= 100, during_outage
    assert failures_during_outage == 0
    assert result.failures == 0, (result.statuses, result.errors)
    # The agent warned with the time left, as docs/security.md says, and never let a
    # certificate expire.
    assert "EXPIRED" not in agent_log(mesh)[log_offset:]
    # The restarted agent adopted the running Envoys, and the outage restarted none.
    assert envoy_pids(mesh) == envoys
