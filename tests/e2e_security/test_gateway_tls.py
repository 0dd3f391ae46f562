"""TLS Gateway servers with real Envoy and real TLS (Istio's secure-ingress tasks, file-mount way).

Its own small mesh: the echo ``server``, ``tls-echo`` (a TLS server with its own self-signed
certificate), ``tcp-echo`` and the ingress gateway, whose Service maps 443 → 8443 (two HTTPS
servers: SIMPLE for ``web.example.com``, MUTUAL for ``secure.example.com``), 9443 (a TLS
``PASSTHROUGH`` server for ``tls.example.org``) and 9444 (a TLS server terminating for
``tcp.example.com``, then a ``tcp`` route to tcp-echo). The certificates are made here: a server
CA signs the three hostnames' certificates, a client CA the client's; the Gateway names the
files, the gateway's agent serves them over SDS (``file-cert:``/``file-root:``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for
from tests.config.secret_pems import Ca
from tests.e2e_security.helpers import https_get

HTTPS_PORT = 8443  # the gateway Service's 443
PASSTHROUGH_PORT = 9443
TERMINATED_PORT = 9444

MESH = """
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: default, labels: {{app: server}}}}
spec:
  selector: {{app: server}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: server, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: server}}}}
  template:
    metadata: {{labels: {{app: server}}}}
    spec:
      containers:
      - name: app
        command: ["python", "-m", "mainsail.samples.echo"]
        ports: [{{containerPort: 8080}}]
        env: [{{name: SERVICE_VERSION, value: "behind-tls"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: tls-echo, namespace: default, labels: {{app: tls-echo}}}}
spec:
  selector: {{app: tls-echo}}
  ports: [{{name: tls, port: 8443}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: tls-echo, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: tls-echo}}}}
  template:
    metadata: {{labels: {{app: tls-echo}}}}
    spec:
      containers:
      - name: app
        command: ["python", "-m", "mainsail.samples.tls_echo.server", "backend"]
        ports: [{{containerPort: 8443}}]
---
apiVersion: v1
kind: Service
metadata: {{name: tcp-echo, namespace: default, labels: {{app: tcp-echo}}}}
spec:
  selector: {{app: tcp-echo}}
  ports: [{{name: tcp, port: 9000}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: tcp-echo, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: tcp-echo}}}}
  template:
    metadata: {{labels: {{app: tcp-echo}}}}
    spec:
      containers:
      - name: app
        command: ["python", "-m", "mainsail.samples.tcp_echo.server", "plain"]
        ports: [{{containerPort: 9000}}]
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {{istio: ingressgateway}}
spec:
  selector: {{istio: ingressgateway}}
  ports:
  - {{name: https, port: 443, targetPort: {https_port}}}
  - {{name: tls, port: {passthrough_port}}}
  - {{name: tls-terminated, port: {terminated_port}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: istio-ingressgateway, namespace: istio-system}}
spec:
  replicas: 1
  selector: {{matchLabels: {{istio: ingressgateway}}}}
  template:
    metadata:
      labels: {{istio: ingressgateway}}
      annotations: {{inject.istio.io/templates: gateway}}
    spec:
      containers:
      - {{name: istio-proxy, image: auto}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: secure, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [web.example.com]
    tls:
      mode: SIMPLE
      serverCertificate: {certs}/web.pem
      privateKey: {certs}/web-key.pem
      minProtocolVersion: TLSV1_2
  - port: {{number: 443, name: https-mutual, protocol: HTTPS}}
    hosts: [secure.example.com]
    tls:
      mode: MUTUAL
      serverCertificate: {certs}/secure.pem
      privateKey: {certs}/secure-key.pem
      caCertificates: {certs}/client-ca.pem
  - port: {{number: {passthrough_port}, name: tls, protocol: TLS}}
    hosts: [tls.example.org]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: {terminated_port}, name: tls-terminated, protocol: TLS}}
    hosts: [tcp.example.com]
    tls:
      mode: SIMPLE
      serverCertificate: {certs}/tcp.pem
      privateKey: {certs}/tcp-key.pem
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web, namespace: default}}
spec:
  hosts: [web.example.com, secure.example.com]
  gateways: [istio-system/secure]
  http:
  - route: [{{destination: {{host: server, port: {{number: 8080}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: tls-backend, namespace: default}}
spec:
  hosts: [tls.example.org]
  gateways: [istio-system/secure]
  tls:
  - match: [{{sniHosts: [tls.example.org]}}]
    route: [{{destination: {{host: tls-echo, port: {{number: 8443}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: tcp-backend, namespace: default}}
spec:
  hosts: [tcp.example.com]
  gateways: [istio-system/secure]
  tcp:
  - match: [{{port: {terminated_port}}}]
    route: [{{destination: {{host: tcp-echo, port: {{number: 9000}}}}}}]
"""


def _write_leaf(ca: Ca, directory: Path, stem: str, dns_name: str) -> None:
    """``<stem>.pem`` and ``<stem>-key.pem``: a leaf for ``dns_name`` signed by ``ca``."""
    leaf = ca.issue(dns_name)
    (directory / f"{stem}.pem").write_bytes(leaf.cert_pem)
    (directory / f"{stem}-key.pem").write_bytes(leaf.key_pem)


@dataclass(frozen=True)
class _Ingress:
    mesh: LocalMesh
    certs: Path
    address: str


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Ingress]:
    certs = tmp_path_factory.mktemp("gateway-certs")
    server_ca, client_ca = Ca.make("server-ca"), Ca.make("client-ca")
    (certs / "server-ca.pem").write_bytes(server_ca.pem)
    (certs / "client-ca.pem").write_bytes(client_ca.pem)
    _write_leaf(server_ca, certs, "web", "web.example.com")
    _write_leaf(server_ca, certs, "secure", "secure.example.com")
    _write_leaf(server_ca, certs, "tcp", "tcp.example.com")
    _write_leaf(client_ca, certs, "client", "client.example.com")
    manifest = certs / "mesh.yaml"
    manifest.write_text(
        MESH.format(
            certs=certs,
            https_port=HTTPS_PORT,
            passthrough_port=PASSTHROUGH_PORT,
            terminated_port=TERMINATED_PORT,
        )
    )
    with LocalMesh([manifest], tmp_path_factory.mktemp("gateway-tls")) as mesh:
        gateway = next(p for p in mesh.pods() if p.proxy_type == "router")
        yield _Ingress(mesh, certs, gateway.ip)


def _client_context(ingress: _Ingress, *, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ingress.certs / "server-ca.pem"))
    if client_cert:
        context.load_cert_chain(ingress.certs / "client.pem", ingress.certs / "client-key.pem")
    return context


def _https_get(
    ingress: _Ingress, host: str, context: ssl.SSLContext, sni: str | None = None
) -> tuple[int, dict[str, object]]:
    """One HTTP/1.1 GET over TLS to the gateway (SNI ``sni`` or ``host``); (status, JSON body)."""
    status, body, _ = https_get((ingress.address, HTTPS_PORT), host, context, sni)
    return status, body


async def _ready(ingress: _Ingress) -> None:
    await wait_for(
        lambda: _https_get(ingress, "web.example.com", _client_context(ingress))[0] == 200,
        timeout=90,
        interval=0.5,
        message="HTTPS through the gateway answering 200",
    )


async def test_simple_https_terminates_at_the_gateway(ingress: _Ingress) -> None:
    await _ready(ingress)
    status, body = _https_get(ingress, "web.example.com", _client_context(ingress))
    assert status == 200
    assert body["version"] == "behind-tls"
    # The app got plain HTTP from the gateway with the client's Host.
    assert body["headers"]["host"] == "web.example.com"  # type: ignore[index]


async def test_sni_of_no_server_is_refused(ingress: _Ingress) -> None:
    await _ready(ingress)
    context = _client_context(ingress)
    context.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _https_get(ingress, "web.example.com", context, sni="other.example.com")


async def test_mutual_requires_a_client_certificate_signed_by_its_ca(ingress: _Ingress) -> None:
    await _ready(ingress)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _https_get(ingress, "secure.example.com", _client_context(ingress))
    status, body = _https_get(
        ingress, "secure.example.com", _client_context(ingress, client_cert=True)
    )
    assert status == 200
    assert body["version"] == "behind-tls"


async def test_passthrough_reaches_the_backend_tls_server(ingress: _Ingress) -> None:
    await _ready(ingress)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # tls-echo's certificate is self-signed

    def hello() -> tuple[str, x509.Certificate]:
        with (
            socket.create_connection((ingress.address, PASSTHROUGH_PORT), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="tls.example.org") as conn,
        ):
            der = conn.getpeercert(binary_form=True)
            assert der is not None
            conn.sendall(b"hi\n")
            return conn.makefile().readline().strip(), x509.load_der_x509_certificate(der)

    line, cert = await wait_for(hello, timeout=60, interval=0.5, message="passthrough answering")
    # The backend's own session: its certificate (not the gateway's) and it saw the client's SNI.
    assert line == "backend tls.example.org hi"
    assert cert.subject.rfc4514_string() == "CN=localhost"


async def test_terminated_tls_server_follows_its_tcp_route(ingress: _Ingress) -> None:
    context = _client_context(ingress)

    def hello() -> str:
        with (
            socket.create_connection((ingress.address, TERMINATED_PORT), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="tcp.example.com") as conn,
        ):
            conn.sendall(b"hi\n")
            return conn.makefile().readline().strip()

    # The gateway's certificate for tcp.example.com verified; tcp-echo got the decrypted line.
    assert await wait_for(hello, timeout=60, interval=0.5, message="terminated TLS") == "plain hi"
