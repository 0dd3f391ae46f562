"""What the security tests share: applying and removing policies (waiting until the sidecars hold
them), requests straight to a pod's inbound port (plaintext, or TLS with a certificate made in
the test), and certificates signed by the mesh's root or by a stranger's."""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from multidict import CIMultiDict

from mainsail.ca.pki import new_p256_key, self_signed_root
from mainsail.platform.pod import PodSpec
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Reply, Traffic

# Every security kind a test of this package may apply; all are removed after it.
POLICY_KINDS = (
    "PeerAuthentication",
    "RequestAuthentication",
    "AuthorizationPolicy",
    "DestinationRule",
    "ServiceEntry",
    "Sidecar",
)
SERVER_HOST = "server.default.svc.cluster.local"
XFCC = "x-forwarded-client-cert"


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_root(common_name: str = "stranger root") -> tuple[Certificate, x509.Certificate]:
    """A CA of our own, that the mesh does not trust."""
    key = new_p256_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = self_signed_root(key, common_name, now, datetime.timedelta(days=1))
    return _pair(cert, key), cert


def _pair(cert: x509.Certificate, key: Any) -> Certificate:
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def make_svid(issuer: Certificate, spiffe_id: str) -> Certificate:
    """A workload certificate as the mesh CA issues them: no subject, one URI SAN (critical, as
    an empty subject requires), client and server auth."""
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
    issuer_key = serialization.load_pem_private_key(issuer.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _pair(cert, key)


def make_server_cert(issuer: Certificate, dns_name: str) -> Certificate:
    """A plain TLS server certificate for ``dns_name`` (an external service's)."""
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem)
    issuer_key = serialization.load_pem_private_key(issuer.key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _pair(cert, key)


def mesh_root(mesh: LocalMesh) -> Certificate:
    """The mesh CA's self-signed root and its key, read from the control plane's state."""
    folder = Path(mesh.home.root) / "ca" / "self-signed"
    return Certificate(
        cert_pem=(folder / "ca-cert.pem").read_bytes(),
        key_pem=(folder / "ca-key.pem").read_bytes(),
    )


def mtls_get(
    address: tuple[str, int],
    client: Certificate | None,
    trusted: bytes,
    tmp: Path,
    *,
    alpn: tuple[str, ...] = ("istio",),
    path: str = "/",
) -> tuple[int, dict[str, Any]]:
    """One HTTP/1.1 request over TLS straight to a pod's inbound port, presenting ``client``
    (None: no certificate) and trusting ``trusted`` for the server's certificate. Raises
    ``ssl.SSLError``/``OSError`` when the server refuses the handshake or closes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the server's certificate has only a SPIFFE URI SAN
    context.load_verify_locations(cadata=trusted.decode())
    if client is not None:
        (tmp / "c.pem").write_bytes(client.cert_pem)
        (tmp / "k.pem").write_bytes(client.key_pem)
        context.load_cert_chain(tmp / "c.pem", tmp / "k.pem")
    if alpn:
        context.set_alpn_protocols(list(alpn))
    connection = http.client.HTTPSConnection(*address, context=context, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": SERVER_HOST})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


async def plain_get(address: tuple[str, int], path: str = "/") -> Reply:
    """One plaintext request straight to a pod's inbound port (no sidecar on the way)."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http_session,
        http_session.get(f"http://{address[0]}:{address[1]}{path}") as response,
    ):
        return Reply(response.status, CIMultiDict(response.headers), await response.text())


async def refused_plaintext(address: tuple[str, int]) -> bool:
    """Whether a plaintext request straight to ``address`` is reset/closed (no HTTP answer)."""
    try:
        await plain_get(address)
    except (TimeoutError, aiohttp.ClientConnectionError, ConnectionError):
        return True
    return False


def tcp_echo(address: tuple[str, int], line: str = "hi") -> str:
    """Send one line to a TCP echo (straight or through a sidecar listener); its answer, or ""
    when the connection is closed without one."""
    with socket.create_connection(address, timeout=10) as connection:
        connection.sendall(line.encode() + b"\n")
        try:
            return connection.makefile().readline().strip()
        except OSError:
            return ""


@dataclass(slots=True)
class SecuredMesh:
    mesh: LocalMesh
    traffic: Traffic
    server: PodSpec
    baseline: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def attach(cls, mesh: LocalMesh) -> SecuredMesh:
        secured = cls(mesh=mesh, traffic=Traffic.attach(mesh), server=mesh.pod("server"))
        secured.baseline = secured.sidecar_state()
        return secured

    def address(self, port: int) -> tuple[str, int]:
        return (self.server.ip, port)

    def url(self, port: int, path: str = "/") -> str:
        return f"http://{SERVER_HOST}:{port}{path}"

    # --- what the sidecars hold
    def listener(self, port: int, pod: PodSpec | None = None) -> dict[str, Any]:
        """The server's (or ``pod``'s) active inbound listener on ``port`` (empty when absent)."""
        pod = pod or self.server
        dump = self.mesh.admin(pod, "/config_dump")
        name = f"{pod.ip}_{port}"
        for config in dump["configs"]:
            for item in config.get("dynamic_listeners", []):
                if item["name"] == name and "active_state" in item:
                    return dict(item["active_state"]["listener"])
        return {}

    def transports(self, port: int, pod: PodSpec | None = None) -> list[str]:
        """The transport protocol each chain of the server's (or ``pod``'s) listener on
        ``port`` matches."""
        return [
            chain.get("filter_chain_match", {}).get("transport_protocol", "")
            for chain in self.listener(port, pod).get("filter_chains", [])
        ]

    def sidecar_state(self) -> dict[str, Any]:
        return {
            "client": self.traffic.client_config(),
            "server": {port: self.listener(port) for port in (8080, 8081)},
            "tcp-echo": self.listener(9000, self.mesh.pod("tcp-echo")),
            "endpoints": self.client_endpoint_metadata(),
        }

    def client_endpoint_metadata(self) -> dict[str, Any]:
        """The server endpoints' metadata as the client's Envoy holds them, per cluster."""
        dump = self.mesh.admin(self.traffic.client, "/config_dump?include_eds")
        found: dict[str, Any] = {}
        for config in dump["configs"]:
            for item in config.get("dynamic_endpoint_configs", []):
                assignment = item["endpoint_config"]
                if SERVER_HOST not in assignment["cluster_name"]:
                    continue
                found[assignment["cluster_name"]] = [
                    lb.get("metadata", {}).get("filter_metadata", {})
                    for group in assignment.get("endpoints", [])
                    for lb in group.get("lb_endpoints", [])
                ]
        return found

    def handshakes(self, port: int, pod: PodSpec | None = None) -> int:
        """TLS handshakes the server's (or ``pod``'s) inbound listener on ``port`` completed."""
        pod = pod or self.server
        name = f"listener.{pod.ip}_{port}.ssl.handshake"
        return self.traffic.stats(pod, f"^{name}$").get(name, 0)

    def tcp_listener_of_client(self, service: str) -> tuple[str, int]:
        """The client sidecar's outbound listener for a TCP ``service`` (what its app gets as
        ``<SVC>_SERVICE_HOST/_PORT``)."""
        dump = self.mesh.admin(self.traffic.client, "/config_dump")
        for config in dump["configs"]:
            for item in config.get("dynamic_listeners", []):
                listener = item.get("active_state", {}).get("listener", {})
                if listener.get("traffic_direction") == "INBOUND":
                    continue
                if f"||{service}." in json.dumps(listener):
                    address = listener["address"]["socket_address"]
                    return address["address"], int(address["port_value"])
        raise LookupError(f"no listener for {service} on the client sidecar")

    # --- policies
    async def apply(self, text: str, condition: Callable[[], bool], message: str) -> None:
        """Apply security YAML, then wait until the sidecars show it (``condition``)."""
        await asyncio.to_thread(self.traffic.api.apply, text, "test")
        await wait_for(condition, timeout=20, message=message)

    async def remove_policies(self) -> None:
        listed = await asyncio.to_thread(self.traffic.api.list_config)
        keys = [
            (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"])
            for item in listed["items"]
            if item["kind"] in POLICY_KINDS
        ]
        if keys:
            await asyncio.to_thread(self.traffic.api.delete_keys, keys)
        await wait_for(
            lambda: self.sidecar_state() == self.baseline,
            timeout=20,
            message="server and client sidecars back to their original config",
        )

    async def through_mesh(self, port: int, path: str = "/") -> Reply:
        """A request from the client app through its sidecar to the server's ``port``."""
        return await self.traffic.get(self.url(port, path))


def https_get(
    address: tuple[str, int], host: str, context: ssl.SSLContext, sni: str | None = None
) -> tuple[int, dict[str, object], x509.Certificate]:
    """One HTTP/1.1 ``GET /hello`` over TLS (SNI ``sni`` or ``host``): (status, JSON body when
    200, the certificate the server presented)."""
    with (
        socket.create_connection(address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni or host) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        conn.sendall(f"GET /hello HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    if not data:
        raise ConnectionError(f"the gateway closed the connection for {host} without answering")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if status == 200 else {}, x509.load_der_x509_certificate(der)
