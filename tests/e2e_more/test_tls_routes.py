"""VirtualService ``tls`` routes for sidecars with real Envoys: the client dials its sidecar's
``TLS_ECHO`` listener (``<SVC>_SERVICE_HOST/_PORT``) with an SNI; the route matching that SNI
picks the subset (v1 answers ``one``, v2 ``two``), and the TLS session is the server's own (the
sidecar forwards it untouched: the server sees the client's SNI)."""

from __future__ import annotations

import json
import socket
import ssl
from collections import Counter
from pathlib import Path

from mainsail.platform.pod import PodSpec
from mainsail.testing.processes import processes_mentioning
from tests.e2e_more.helpers import apply_until
from tests.e2e_traffic.helpers import Traffic

SNI_ROUTES = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tls-echo}
spec:
  host: tls-echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tls-echo}
spec:
  hosts: [tls-echo, v1.tls.example, v2.tls.example]
  tls:
  - match: [{port: 8443, sniHosts: [v1.tls.example]}]
    route: [{destination: {host: tls-echo, subset: v1, port: {number: 8443}}}]
  - match: [{port: 8443, sniHosts: [v2.tls.example]}]
    route: [{destination: {host: tls-echo, subset: v2, port: {number: 8443}}}]
"""


def _app_environ(pod: PodSpec) -> dict[str, str]:
    """The environment of the pod's app process, as the app sees it."""
    for pid in processes_mentioning("signal.pause()"):
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        if env.get("POD_IP") == pod.ip:
            return env
    raise LookupError(f"no app process for {pod.name}")


def _hello(address: tuple[str, int], sni: str) -> str:
    """One line over TLS with ``sni``; the answer (``<prefix> <sni the server saw> hi``)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the sample's certificate is self-signed
    with (
        socket.create_connection(address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni) as conn,
    ):
        conn.sendall(b"hi\n")
        return conn.makefile().readline().strip()


def _answers(address: tuple[str, int], sni: str, n: int) -> Counter[str]:
    return Counter(_hello(address, sni) for _ in range(n))


async def test_tls_route_picks_the_subset_by_sni(traffic: Traffic) -> None:
    env = _app_environ(traffic.client)
    address = env["TLS_ECHO_SERVICE_HOST"], int(env["TLS_ECHO_SERVICE_PORT_TLS"])
    assert address[0] == traffic.client.ip  # the client's own sidecar
    # Without routes the service's two versions share the connections.
    assert set(_answers(address, "v1.tls.example", 20)) == {
        "one v1.tls.example hi",
        "two v1.tls.example hi",
    }  # both versions in 20 connections: p(miss) < 1e-5
    await apply_until(
        traffic,
        SNI_ROUTES,
        lambda: (
            '"v2.tls.example"'
            in json.dumps(
                traffic.mesh.admin(traffic.client, "/config_dump?resource=dynamic_listeners")
            )
        ),
        "the client's listener choosing by SNI",
    )
    assert _answers(address, "v1.tls.example", 20) == {"one v1.tls.example hi": 20}
    assert _answers(address, "v2.tls.example", 20) == {"two v2.tls.example hi": 20}
