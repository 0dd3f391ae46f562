"""HTTPS Gateway servers whose certificates are Kubernetes Secrets (``credentialName``), served
by the control plane over ADS as istiod does, with real Envoy and real TLS.

Its own small mesh: the echo ``server`` and the ingress gateway (istio-system), whose Service
maps 443 → 8443 with three HTTPS servers: SIMPLE for ``web.example.com`` (Secret ``web``,
``kubernetes.io/tls``), MUTUAL for ``secure.example.com`` (Secret ``secure`` with its CA in
``ca.crt``) and MUTUAL for ``split.example.com`` (generic Secret ``split`` and its CA in
``split-cacert``). The certificates are made here; no file is named anywhere in the config.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for
from tests.config.secret_pems import Ca, Leaf, ca_secret_yaml, tls_secret_yaml
from tests.e2e_security.helpers import https_get

HTTPS_PORT = 8443  # the gateway Service's 443

MESH = """
apiVersion: v1
kind: Service
metadata: {name: server, namespace: default, labels: {app: server}}
spec:
  selector: {app: server}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      containers:
      - name: app
        command: ["python", "-m", "mainsail.samples.echo"]
        ports: [{containerPort: 8080}]
        env: [{name: SERVICE_VERSION, value: "behind-credential"}]
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system, labels: {istio: ingressgateway}}
spec:
  selector: {istio: ingressgateway}
  ports:
  - {name: https, port: 443, targetPort: 8443}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  replicas: 1
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata:
      labels: {istio: ingressgateway}
      annotations: {inject.istio.io/templates: gateway}
    spec:
      containers:
      - {name: istio-proxy, image: auto}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, credentialName: web}
  - port: {number: 443, name: https-mutual, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: MUTUAL, credentialName: secure}
  - port: {number: 443, name: https-split, protocol: HTTPS}
    hosts: [split.example.com]
    tls: {mode: MUTUAL, credentialName: split}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com, secure.example.com, split.example.com]
  gateways: [istio-system/secure]
  http:
  - route: [{destination: {host: server, port: {number: 8080}}}]
"""


@dataclass(frozen=True)
class _Ingress:
    mesh: LocalMesh
    address: str
    files: Path
    server_ca: Ca
    client_ca: Ca
    client: Leaf
    web: Leaf


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Ingress]:
    files = tmp_path_factory.mktemp("gateway-credentials")
    server_ca, client_ca = Ca.make("server-ca"), Ca.make("client-ca")
    web = server_ca.issue("web.example.com")
    client = client_ca.issue("client.example.com")
    secrets = [
        tls_secret_yaml("web", "istio-system", web),
        tls_secret_yaml(
            "secure", "istio-system", server_ca.issue("secure.example.com"), client_ca.pem
        ),
        tls_secret_yaml(
            "split", "istio-system", server_ca.issue("split.example.com"), generic=True
        ),
        ca_secret_yaml("split-cacert", "istio-system", client_ca.pem),
    ]
    manifest = files / "mesh.yaml"
    manifest.write_text(MESH + "".join("---\n" + s for s in secrets))
    with LocalMesh([manifest], tmp_path_factory.mktemp("gateway-credentials-home")) as mesh:
        gateway = next(p for p in mesh.pods() if p.proxy_type == "router")
        yield _Ingress(mesh, gateway.ip, files, server_ca, client_ca, client, web)


def _client_context(ingress: _Ingress, *, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ingress.server_ca.pem.decode())
    if client_cert:
        (ingress.files / "client.pem").write_bytes(ingress.client.cert_pem)
        (ingress.files / "client-key.pem").write_bytes(ingress.client.key_pem)
        context.load_cert_chain(ingress.files / "client.pem", ingress.files / "client-key.pem")
    return context


def _https_get(
    ingress: _Ingress, host: str, context: ssl.SSLContext
) -> tuple[int, dict[str, object], x509.Certificate]:
    """One GET over TLS to the gateway: (status, JSON body, the certificate it served)."""
    return https_get((ingress.address, HTTPS_PORT), host, context)


async def _ready(ingress: _Ingress) -> None:
    await wait_for(
        lambda: _https_get(ingress, "web.example.com", _client_context(ingress))[0] == 200,
        timeout=90,
        interval=0.5,
        message="HTTPS through the gateway (credentialName web) answering 200",
    )


async def test_simple_https_serves_the_secret_certificate(ingress: _Ingress) -> None:
    await _ready(ingress)
    status, body, cert = _https_get(ingress, "web.example.com", _client_context(ingress))
    assert status == 200
    assert body["version"] == "behind-credential"
    assert cert.serial_number == ingress.web.cert.serial_number


async def test_mutual_with_ca_in_the_secret_requires_a_client_certificate(
    ingress: _Ingress,
) -> None:
    await _ready(ingress)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        _https_get(ingress, "secure.example.com", _client_context(ingress))
    status, body, _ = _https_get(
        ingress, "secure.example.com", _client_context(ingress, client_cert=True)
    )
    assert (status, body["version"]) == (200, "behind-credential")


async def test_mutual_with_a_cacert_secret_requires_a_client_certificate(
    ingress: _Ingress,
) -> None:
    await _ready(ingress)
    # A client certificate from another CA is refused too.
    stranger = Ca.make("stranger-ca").issue("client.example.com")
    (ingress.files / "stranger.pem").write_bytes(stranger.cert_pem)
    (ingress.files / "stranger-key.pem").write_bytes(stranger.key_pem)
    wrong = _client_context(ingress)
    wrong.load_cert_chain(ingress.files / "stranger.pem", ingress.files / "stranger-key.pem")
    for context in (_client_context(ingress), wrong):
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _https_get(ingress, "split.example.com", context)
    status, _, _ = await wait_for(
        lambda: _https_get(
            ingress, "split.example.com", _client_context(ingress, client_cert=True)
        ),
        timeout=30,
        interval=0.5,
        message="split.example.com answering with a client certificate",
    )
    assert status == 200


async def test_updating_the_secret_rotates_the_served_certificate(ingress: _Ingress) -> None:
    await _ready(ingress)
    uptime = _stat(ingress, "server.uptime")
    listener_updates = _stat(ingress, "listener_manager.listener_modified")
    renewed = ingress.server_ca.issue("web.example.com")
    update = ingress.files / "web-renewed.yaml"
    update.write_text(tls_secret_yaml("web", "istio-system", renewed))
    applied = ingress.mesh.cli("apply", "-f", str(update))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    def serial() -> int:
        return _https_get(ingress, "web.example.com", _client_context(ingress))[2].serial_number

    await wait_for(
        lambda: serial() == renewed.cert.serial_number,
        timeout=30,
        interval=0.2,
        message="the gateway serving the renewed certificate",
    )
    # Rotated in place over SDS: the same Envoy (its uptime did not restart) and no listener
    # was replaced (no drain of the open connections).
    assert _stat(ingress, "server.uptime") >= uptime
    assert _stat(ingress, "listener_manager.listener_modified") == listener_updates


def _stat(ingress: _Ingress, name: str) -> int:
    gateway = next(p for p in ingress.mesh.pods() if p.proxy_type == "router")
    text = ingress.mesh.admin(gateway, f"/stats?filter=^{name}$")
    return int(text.split(":")[1])


def test_get_secrets_shows_no_key_material(ingress: _Ingress) -> None:
    shown = ingress.mesh.cli("get", "secrets", "-n", "istio-system")
    assert shown.returncode == 0, shown.stderr
    assert "web" in shown.stdout and "kubernetes.io/tls" in shown.stdout
    as_yaml = ingress.mesh.cli("get", "secrets", "web", "-n", "istio-system", "-o", "yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert "bytes>" in as_yaml.stdout
    assert "PRIVATE KEY" not in as_yaml.stdout and "LS0t" not in as_yaml.stdout
