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

import datetime as dt
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mainsail.ca.pki import new_p256_key, self_signed_root
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for

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


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class _Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, common_name: str) -> _Ca:
        key = new_p256_key()
        cert = self_signed_root(key, common_name, dt.datetime.now(dt.UTC), dt.timedelta(days=1))
        return cls(key, cert)

    def issue(self, directory: Path, stem: str, dns_name: str) -> None:
        """``<stem>.pem`` and ``<stem>-key.pem``: a leaf for ``dns_name`` signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(dns_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        (directory / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def write(self, path: Path) -> None:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class _Ingress:
    mesh: LocalMesh
    certs: Path
    address: str


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Ingress]:
    certs = tmp_path_factory.mktemp("gateway-certs")
    server_ca, client_ca = _Ca.make("server-ca"), _Ca.make("client-ca")
    server_ca.write(certs / "server-ca.pem")
    client_ca.write(certs / "client-ca.pem")
    server_ca.issue(certs, "web", "web.example.com")
    server_ca.issue(certs, "secure", "secure.example.com")
    server_ca.issue(certs, "tcp", "tcp.example.com")
    client_ca.issue(certs, "client", "client.example.com")
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
    with (
        socket.create_connection((ingress.address, HTTPS_PORT), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni or host) as conn,
    ):
        conn.sendall(f"GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    if not data:
        raise ConnectionError(f"the gateway closed the connection for {host} without answering")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if status == 200 else {}


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
