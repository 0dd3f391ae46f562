"""DestinationRule ``tls`` SIMPLE and MUTUAL (TLS origination) with real Envoys: the client app
sends plain HTTP to an external service; its sidecar originates TLS with the CA file, SANs and
client certificate files the rule names (served by the node agent over SDS as ``file-root:`` /
``file-cert:``). The upstream is a TLS server in this test process with certificates made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.waiting import wait_for
from tests.e2e_security.helpers import (
    Certificate,
    SecuredMesh,
    make_root,
    make_server_cert,
    make_svid,
    mtls_get,
)

HOST = "secure.example.com"
PORT = 8443
CLUSTER = f"cluster/outbound|{PORT}||{HOST}"
CLIENT_ID = "spiffe://partner.example/client"


@contextlib.asynccontextmanager
async def tls_server(
    server: Certificate, tmp: Path, client_ca: Certificate | None = None
) -> AsyncIterator[tuple[str, int]]:
    """An HTTPS server answering with the client certificate's SANs (requiring one, from
    ``client_ca``, when given)."""
    (tmp / "server.pem").write_bytes(server.cert_pem)
    (tmp / "server-key.pem").write_bytes(server.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "server.pem", tmp / "server-key.pem")
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca.cert_pem.decode())

    async def handle(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        sans = [value for _, value in (peer or {}).get("subjectAltName", ())]
        return web.json_response({"tls": True, "client_sans": sans})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    host = random_loopback_address()
    site = web.TCPSite(runner, host, 0, ssl_context=context)
    await site.start()
    try:
        yield host, int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def _entry(address: tuple[str, int]) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure, namespace: default}}
spec:
  hosts: [{HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: {PORT}, name: http, protocol: HTTP, targetPort: {address[1]}}}]
  endpoints: [{{address: {address[0]}}}]
"""


def _rule(tls: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure, namespace: default}}
spec:
  host: {HOST}
  trafficPolicy:
    tls: {tls}
"""


def _tls_of(secured: SecuredMesh) -> str:
    held = secured.traffic.client_config().get(CLUSTER, {})
    return json.dumps(held.get("transport_socket", {}))


async def _get(secured: SecuredMesh) -> tuple[int, dict[str, object]]:
    reply = await secured.traffic.get(f"http://{HOST}:{PORT}/")
    return reply.status, reply.json() if reply.status == 200 else {}


async def test_simple_verifies_the_server_with_the_rules_ca_and_sans(
    secured: SecuredMesh, tmp_path: Path
) -> None:
    ca, _ = make_root("partner CA")
    ca_file = tmp_path / "partner-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    async with tls_server(make_server_cert(ca, HOST), tmp_path) as address:
        good = f"{{mode: SIMPLE, caCertificates: {ca_file}, sni: {HOST}}}"
        await secured.apply(
            _entry(address) + _rule(good),
            lambda: f"file-root:{ca_file}" in _tls_of(secured),
            "client cluster originates TLS with the rule's CA",
        )

        async def served() -> bool:
            status, body = await _get(secured)
            return status == 200 and body.get("tls") is True

        await wait_for(served, timeout=20, interval=0.2, message="TLS origination answered")
        wrong_san = (
            f"{{mode: SIMPLE, caCertificates: {ca_file}, sni: {HOST}, "
            "subjectAltNames: [other.example.com]}"
        )
        await secured.apply(
            _rule(wrong_san),
            lambda: "other.example.com" in _tls_of(secured),
            "rule with a SAN the server lacks",
        )

        async def refused() -> bool:
            return (await _get(secured))[0] == 503

        await wait_for(refused, timeout=20, interval=0.2, message="server with wrong SAN refused")


async def test_mutual_presents_the_rules_client_certificate(
    secured: SecuredMesh, tmp_path: Path
) -> None:
    ca, _ = make_root("partner CA")
    ca_file = tmp_path / "partner-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    client = make_svid(ca, CLIENT_ID)
    (tmp_path / "client.pem").write_bytes(client.cert_pem)
    (tmp_path / "client-key.pem").write_bytes(client.key_pem)
    async with tls_server(make_server_cert(ca, HOST), tmp_path, client_ca=ca) as address:
        simple = f"{{mode: SIMPLE, caCertificates: {ca_file}, sni: {HOST}}}"
        await secured.apply(
            _entry(address) + _rule(simple),
            lambda: f"file-root:{ca_file}" in _tls_of(secured),
            "SIMPLE rule in force",
        )

        async def refused() -> bool:
            return (await _get(secured))[0] == 503

        # The server requires a client certificate: SIMPLE presents none.
        await wait_for(refused, timeout=20, interval=0.2, message="no client cert refused")
        mutual = (
            f"{{mode: MUTUAL, caCertificates: {ca_file}, sni: {HOST}, "
            f"clientCertificate: {tmp_path / 'client.pem'}, "
            f"privateKey: {tmp_path / 'client-key.pem'}}}"
        )
        await secured.apply(
            _rule(mutual),
            lambda: "file-cert:" in _tls_of(secured),
            "MUTUAL rule in force",
        )

        async def served() -> bool:
            status, body = await _get(secured)
            return status == 200 and CLIENT_ID in str(body.get("client_sans"))

        await wait_for(served, timeout=20, interval=0.2, message="client certificate presented")


async def test_sidecar_ingress_terminates_tls_with_the_users_certificate(
    secured: SecuredMesh, tmp_path: Path
) -> None:
    """A Sidecar ``ingress[].tls`` on a port whose mTLS mode is DISABLE: the server's sidecar
    serves HTTPS with the certificate files it names (read by the agent over SDS), HTTP to the
    app behind."""
    ca, _ = make_root("web CA")
    web = make_server_cert(ca, "server.example.com")
    (tmp_path / "web.pem").write_bytes(web.cert_pem)
    (tmp_path / "web-key.pem").write_bytes(web.key_pem)
    policy = f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: server, namespace: default}}
spec:
  workloadSelector: {{labels: {{app: server}}}}
  ingress:
  - port: {{number: 9443, protocol: HTTPS, name: https-app}}
    defaultEndpoint: 127.0.0.1:8080
    tls:
      mode: SIMPLE
      serverCertificate: {tmp_path / "web.pem"}
      privateKey: {tmp_path / "web-key.pem"}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: server-https, namespace: default}}
spec:
  selector: {{matchLabels: {{app: server}}}}
  portLevelMtls:
    "9443": {{mode: DISABLE}}
"""
    await secured.apply(
        policy,
        lambda: "file-cert:" in json.dumps(secured.listener(9443)),
        "server sidecar terminates TLS on 9443 with the user's certificate",
    )

    def get() -> tuple[int, dict[str, object]]:
        return mtls_get(secured.address(9443), None, ca.cert_pem, tmp_path, alpn=())

    async def served() -> bool:
        status, body = await asyncio.to_thread(get)
        return status == 200 and body.get("version") == "app"

    await wait_for(served, timeout=20, interval=0.2, message="HTTPS served by the sidecar")
