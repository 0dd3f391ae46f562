"""Istio's CSR API over real gRPC: ``client.request_certificate`` against the CA servicer."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mainsail.ca.client import METHOD, request_certificate
from mainsail.ca.errors import CaRefused, CaUnavailable
from mainsail.ca.proto import ca_pb2
from mainsail.ca.server import add_to_server
from mainsail.ca.service import CertificateAuthority
from mainsail.testing.ports import free_port

from .conftest import (
    SLEEP,
    ca_certificate,
    certs,
    csr_pem,
    custom_csr,
    key_pem_of,
    pem_of,
    token_for,
    verify_chain,
)


@pytest.fixture
async def target(ca: CertificateAuthority) -> AsyncIterator[str]:
    server = grpc.aio.server()
    add_to_server(ca, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_request_certificate_end_to_end(ca: CertificateAuthority, target: str) -> None:
    chain = await request_certificate(target, csr_pem(), 1800, token_for(ca))
    assert len(chain) == 2
    leaf = verify_chain(chain)[0]
    assert leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.UniformResourceIdentifier) == [SLEEP]
    assert certs(chain[-1]) == list(ca.roots())
    assert [r.serial for r in ca.issued()] == [f"{leaf.serial_number:x}"]


async def test_the_wire_is_istios(ca: CertificateAuthority, target: str) -> None:
    """A raw call on Istio's method path with Istio's field numbers (csr=1,
    validity_duration=3, metadata=4 as a Struct) is answered with cert_chain=1."""
    request = ca_pb2.IstioCertificateRequest(csr=csr_pem(), validity_duration=600)
    request.metadata.update({"ClusterID": "Kubernetes"})
    wire = request.SerializeToString()
    assert wire[0] == (1 << 3) | 2  # field 1, length-delimited
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(METHOD)
        raw = await call(wire, metadata=(("authorization", f"Bearer {token_for(ca)}"),))
    response = ca_pb2.IstioCertificateResponse.FromString(raw)
    assert len(response.cert_chain) == 2
    assert raw[0] == (1 << 3) | 2
    assert METHOD == "/istio.v1.auth.IstioCertificateService/CreateCertificate"


@pytest.mark.parametrize(
    ("who", "csr", "code", "message"),
    [
        (
            "sleep",
            csr_pem("spiffe://cluster.local/ns/default/sa/admin"),
            "PERMISSION_DENIED",
            "may not receive spiffe://cluster.local/ns/default/sa/admin",
        ),
        ("", csr_pem(), "UNAUTHENTICATED", "invalid"),
        ("sleep", custom_csr([x509.DNSName("x")]), "INVALID_ARGUMENT", "exactly one SAN"),
    ],
)
async def test_refusals_carry_status_and_message(
    ca: CertificateAuthority, target: str, who: str, csr: str, code: str, message: str
) -> None:
    token = token_for(ca, account=who) if who else "garbage"
    with pytest.raises(CaRefused) as info:
        await request_certificate(target, csr, 0, token)
    assert info.value.code == code
    assert message in info.value.message
    assert ca.issued(unexpired=False) == ()


async def test_unreachable_ca_is_unavailable() -> None:
    with pytest.raises(CaUnavailable, match="UNAVAILABLE"):
        await request_certificate(f"127.0.0.1:{free_port()}", csr_pem(), 0, "t", timeout=5)


async def test_a_ca_that_is_back_is_reached_at_once(ca: CertificateAuthority) -> None:
    """Failed calls whose errors are kept (as the agent keeps its last one) must not leave
    the next request waiting out gRPC's reconnect back-off (1 s, 1.6 s, 2.6 s, 4.1 s ...)."""
    port = free_port()
    kept: list[CaUnavailable] = []
    for _ in range(5):
        with pytest.raises(CaUnavailable) as info:
            await request_certificate(f"127.0.0.1:{port}", csr_pem(), 0, "t", timeout=5)
        kept.append(info.value)
    server = grpc.aio.server()
    add_to_server(ca, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        chain = await request_certificate(f"127.0.0.1:{port}", csr_pem(), 0, token_for(ca))
    finally:
        await server.stop(None)
    assert len(chain) == 2


async def test_burst_of_concurrent_requests(ca: CertificateAuthority, target: str) -> None:
    token = token_for(ca)
    chains = await asyncio.gather(
        *(request_certificate(target, csr_pem(), 0, token) for _ in range(50))
    )
    serials = {verify_chain(c)[0].serial_number for c in chains}
    assert len(serials) == 50
    assert len(ca.issued()) == 50


async def test_request_certificate_over_tls(ca: CertificateAuthority) -> None:
    """With ``root_pem`` the client verifies the CA's serving certificate (istiod's 15012)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_certificate("Serving Root", root_key)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    serving = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istiod")]))
        .issuer_name(root.subject)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    server = grpc.aio.server()
    add_to_server(ca, server)
    credentials = grpc.ssl_server_credentials(
        [(key_pem_of(serving_key).encode(), pem_of(serving).encode())]
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        chain = await request_certificate(
            f"127.0.0.1:{port}", csr_pem(), 0, token_for(ca), root_pem=pem_of(root)
        )
        verify_chain(chain)
        stranger = ca_certificate("Stranger", ec.generate_private_key(ec.SECP256R1()))
        with pytest.raises(CaUnavailable):
            await request_certificate(
                f"127.0.0.1:{port}", csr_pem(), 0, token_for(ca), root_pem=pem_of(stranger),
                timeout=5,
            )  # fmt: skip
    finally:
        await server.stop(None)
