"""The control plane's TLS port (istiod's 15012) with real TLS and real gRPC: its certificate
(istiod's SANs, from the mesh CA, renewed, following a root rotation), the CSR API through it,
and what a client with the wrong root, the wrong SAN or no TLS at all gets."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

from mainsail.ca.client import request_certificate
from mainsail.ca.csr import new_workload_csr
from mainsail.ca.errors import CaRefused, CaUnavailable, CaUntrusted
from mainsail.ca.proto import ca_pb2, ca_pb2_grpc
from mainsail.ca.server import add_to_server
from mainsail.ca.server_check import certificate_problem
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import (
    ISTIOD_SAN,
    ROOT_CERT_PATH,
    issue_serving_certificate,
    istiod_dns_names,
    serving_host_ips,
)
from mainsail.ca.tls_port import SecureXdsPort
from mainsail.testing.waiting import wait_for

from .conftest import (
    SLEEP,
    SettableClock,
    ca_certificate,
    certs,
    csr_pem,
    key_pem_of,
    pem_of,
    token_for,
)

LOOPBACK = (ipaddress.ip_address("127.0.0.1"),)


class Plane:
    def __init__(self, ca: CertificateAuthority, port: SecureXdsPort, plain: int) -> None:
        self.ca = ca
        self.tls = port
        self.plain = plain

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.tls.port}"

    @property
    def root_pem(self) -> str:
        return self.tls.root_cert_file.read_text()


@pytest.fixture
async def plane(
    ca: CertificateAuthority, tmp_path: Path, clock: SettableClock
) -> AsyncIterator[Plane]:
    """The CA's gRPC service on a plaintext port and the TLS port in front of it."""
    server = grpc.aio.server()
    add_to_server(ca, server)
    plain = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    port = SecureXdsPort(
        ca,
        host="127.0.0.1",
        port=0,
        upstream=("127.0.0.1", plain),
        root_cert_file=tmp_path / "home" / ROOT_CERT_PATH,
        dns_names=istiod_dns_names(),
        ip_addresses=LOOPBACK,
        lifetime=timedelta(hours=1),
        clock=clock,
    )
    await port.start()
    try:
        yield Plane(ca, port, plain)
    finally:
        await port.close()
        await server.stop(None)


async def presented_certificate(
    target: str, root_pem: str, *, verify: bool = True
) -> x509.Certificate:
    """The certificate a fresh TLS handshake gets, verified against ``root_pem`` for
    ``ISTIOD_SAN`` by Python's ssl (OpenSSL), as any TLS client would (``verify=False`` for
    certificates issued on a test clock ahead of the real one)."""
    host, _, port = target.rpartition(":")
    context = ssl.create_default_context(cadata=root_pem)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    _, writer = await asyncio.open_connection(
        host, int(port), ssl=context, server_hostname=ISTIOD_SAN
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object.selected_alpn_protocol() == "h2"
        der = ssl_object.getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der)


def sans_of(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_serving_certificate_is_istiods(ca: CertificateAuthority, clock: SettableClock) -> None:
    serving = issue_serving_certificate(
        ca.material,
        dns_names=istiod_dns_names(),
        ip_addresses=serving_host_ips("0.0.0.0"),
        lifetime=timedelta(hours=24),
        now=clock(),
    )
    cert = serving.certificate
    assert sans_of(cert).get_values_for_type(x509.DNSName) == [
        "istio-pilot.istio-system.svc",
        "istiod-remote.istio-system.svc",
        "istiod.istio-system.svc",
    ]
    assert sans_of(cert).get_values_for_type(x509.IPAddress) == list(LOOPBACK)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - clock() == timedelta(hours=24)
    assert serving.renew_at < cert.not_valid_after_utc
    # A TLS server certificate for ISTIOD_SAN under the mesh's root (RFC 5280 path checks).
    PolicyBuilder().store(Store(list(ca.roots()))).time(clock()).build_server_verifier(
        x509.DNSName(ISTIOD_SAN)
    ).verify(cert, [])
    assert serving.bundle_pem == ca.roots_pem()
    assert serving_host_ips("10.1.2.3") == (ipaddress.ip_address("10.1.2.3"),)
    assert serving_host_ips("istiod.example") == ()


async def test_csr_over_tls_with_the_written_root(plane: Plane) -> None:
    assert plane.tls.root_cert_file.read_text() == plane.ca.roots_pem()
    chain = await request_certificate(
        plane.target, csr_pem(), 600, token_for(plane.ca), root_pem=plane.root_pem,
        server_name=ISTIOD_SAN,
    )  # fmt: skip
    leaf = certs(chain[0])[0]
    assert sans_of(leaf).get_values_for_type(x509.UniformResourceIdentifier) == [SLEEP]
    # Without a certificate: the agent's first CSR authenticates with its token only.
    assert plane.tls.client_identities[""] >= 1


async def test_csr_over_tls_with_a_wrong_token_is_still_refused(plane: Plane) -> None:
    with pytest.raises(CaRefused) as info:
        await request_certificate(
            plane.target, csr_pem(), 0, "not-a-token", root_pem=plane.root_pem,
            server_name=ISTIOD_SAN,
        )  # fmt: skip
    assert info.value.code == "UNAUTHENTICATED"
    with pytest.raises(CaRefused) as info:
        await request_certificate(
            plane.target, csr_pem(), 0, token_for(plane.ca, account="other"),
            root_pem=plane.root_pem, server_name=ISTIOD_SAN,
        )  # fmt: skip
    assert info.value.code == "PERMISSION_DENIED"
    assert plane.ca.issued(unexpired=False) == ()


async def test_a_server_without_the_expected_san_is_refused_by_name(plane: Plane) -> None:
    with pytest.raises(CaUntrusted) as info:
        await request_certificate(
            plane.target, csr_pem(), 0, token_for(plane.ca), root_pem=plane.root_pem,
            server_name="istiod.other-ns.svc", timeout=5,
        )  # fmt: skip
    message = str(info.value)
    assert "not the expected SAN 'istiod.other-ns.svc'" in message
    assert "DNS:istiod.istio-system.svc" in message
    assert plane.ca.issued(unexpired=False) == ()


async def test_a_server_under_another_root_is_refused_naming_its_issuer(plane: Plane) -> None:
    stranger = ca_certificate("Stranger Root", ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CaUntrusted) as info:
        await request_certificate(
            plane.target, csr_pem(), 0, token_for(plane.ca), root_pem=pem_of(stranger),
            server_name=ISTIOD_SAN, timeout=5,
        )  # fmt: skip
    message = str(info.value)
    issuer = plane.ca.material.certificate.subject.rfc4514_string()
    assert f"issued by {issuer}, which is not a root of the trust bundle" in message
    assert "Stranger Root" in message
    assert plane.ca.issued(unexpired=False) == ()


async def test_plaintext_clients_fail_on_the_tls_port(plane: Plane) -> None:
    with pytest.raises(CaUnavailable) as info:
        await request_certificate(plane.target, csr_pem(), 0, token_for(plane.ca), timeout=5)
    assert not isinstance(info.value, CaUntrusted)
    # Raw bytes (an HTTP/2 preface) get no answer but a closed connection.
    reader, writer = await asyncio.open_connection("127.0.0.1", plane.tls.port)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    assert plane.ca.issued(unexpired=False) == ()
    # The plaintext port itself still answers plaintext (15010 and 15012 side by side).
    chain = await request_certificate(f"127.0.0.1:{plane.plain}", csr_pem(), 0, token_for(plane.ca))
    assert len(chain) == 2


async def test_client_certificates_are_asked_for_and_verified(plane: Plane) -> None:
    """A client presenting its SVID is seen by it; one from another root is refused."""
    workload = new_workload_csr(SLEEP)
    chain = await request_certificate(
        f"127.0.0.1:{plane.plain}", workload.csr_pem, 0, token_for(plane.ca)
    )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=plane.root_pem.encode(),
        private_key=workload.key_pem.encode(),
        certificate_chain="".join(chain[:-1]).encode(),
    )
    options = (("grpc.ssl_target_name_override", ISTIOD_SAN),)
    async with grpc.aio.secure_channel(plane.target, credentials, options=options) as channel:
        stub = ca_pb2_grpc.IstioCertificateServiceStub(channel)
        request = ca_pb2.IstioCertificateRequest(csr=csr_pem(), validity_duration=0)
        metadata = (("authorization", f"Bearer {token_for(plane.ca)}"),)
        await stub.CreateCertificate(request, metadata=metadata, timeout=10)
    assert plane.tls.client_identities[SLEEP] == 1

    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = ca_certificate("Stranger Root", stranger_key)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = ca_certificate("impostor", leaf_key, (stranger, stranger_key), ca=False)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=plane.root_pem.encode(),
        private_key=key_pem_of(leaf_key).encode(),
        certificate_chain=pem_of(leaf).encode(),
    )
    async with grpc.aio.secure_channel(plane.target, credentials, options=options) as channel:
        stub = ca_pb2_grpc.IstioCertificateServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CreateCertificate(request, metadata=metadata, timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert sum(plane.tls.client_identities.values()) == 1 + plane.tls.client_identities[""]


async def test_serving_certificate_is_renewed_at_half_life(
    plane: Plane, clock: SettableClock
) -> None:
    first = await presented_certificate(plane.target, plane.root_pem)
    assert first == plane.tls.serving.certificate
    clock.advance(timedelta(minutes=20))
    assert await presented_certificate(plane.target, plane.root_pem) == first
    clock.advance(timedelta(minutes=15))  # past half of the hour
    renewed = await presented_certificate(plane.target, plane.root_pem, verify=False)
    assert renewed.serial_number != first.serial_number
    assert renewed.not_valid_before_utc > first.not_valid_before_utc
    assert certificate_problem(renewed, plane.root_pem, ISTIOD_SAN, now=clock()) is None


async def test_after_a_root_rotation_the_serving_chain_follows(
    plane: Plane, clock: SettableClock
) -> None:
    old_root = plane.ca.material.certificate
    first = await presented_certificate(plane.target, plane.root_pem)
    new_root = plane.ca.rotate_root(overlap=timedelta(hours=2))
    # At once (the CA tells the port), not at the next check or connection.
    assert plane.tls.serving.certificate.issuer == new_root.subject
    assert not plane.tls.refresh()
    bundle = certs(plane.root_pem)
    assert bundle == [new_root, old_root]
    renewed = await presented_certificate(plane.target, pem_of(new_root))
    assert renewed.serial_number != first.serial_number
    assert renewed.issuer == new_root.subject
    # Agents still holding only the old root cannot verify the new chain; they read the file.
    assert certificate_problem(renewed, pem_of(old_root), ISTIOD_SAN) is not None
    assert certificate_problem(renewed, plane.root_pem, ISTIOD_SAN) is None
    # Once the overlap ends, the old root leaves the file.
    clock.advance(timedelta(hours=2, minutes=1))
    await wait_for(lambda: plane.tls.refresh() or True, timeout=5)
    assert certs(plane.root_pem) == [new_root]
