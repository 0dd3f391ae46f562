"""SVIDs do what they are for: a real mutual-TLS handshake (OpenSSL through ``ssl``) between two
workloads, each presenting its SVID and trusting the CA's bundle, also across a root rotation."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from mainsail.ca.csr import new_workload_csr
from mainsail.ca.service import CertificateAuthority

from .conftest import bearer, token_for


def credentials(ca: CertificateAuthority, account: str, directory: Path) -> tuple[Path, Path, Path]:
    """key, chain (leaf + intermediates) and bundle files for ``account``'s SVID."""
    request = new_workload_csr(f"spiffe://cluster.local/ns/default/sa/{account}")
    chain = ca.create_certificate(bearer(token_for(ca, account=account)), request.csr_pem, 0)
    key, cert, bundle = (directory / f"{account}.{n}.pem" for n in ("key", "chain", "bundle"))
    key.write_text(request.key_pem)
    cert.write_text("".join(chain[:-1]))
    bundle.write_text(chain[-1])
    return key, cert, bundle


def context(purpose: ssl.Purpose, key: Path, cert: Path, bundle: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(purpose, cafile=str(bundle))
    ctx.load_cert_chain(str(cert), str(key))
    ctx.check_hostname = False  # SPIFFE identities are URIs, checked below instead
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[str, str]:
    """The peer SPIFFE IDs each side saw: (server's view of the client, client's of the server)."""
    seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(peer_id(writer))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        if await reader.read() != b"ok":
            # TLS 1.3: the client finishes first; a server refusing its certificate just closes.
            raise ConnectionAbortedError("the server closed the connection in the handshake")
        server_id = peer_id(writer)
        writer.close()
        return await asyncio.wait_for(seen, 10), server_id
    finally:
        server.close()
        await server.wait_closed()


def peer_id(writer: asyncio.StreamWriter) -> str:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    (uri,) = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return str(uri)


async def test_mutual_tls_between_two_svids(ca: CertificateAuthority, tmp_path: Path) -> None:
    server = context(ssl.Purpose.CLIENT_AUTH, *credentials(ca, "reviews", tmp_path))
    client = context(ssl.Purpose.SERVER_AUTH, *credentials(ca, "productpage", tmp_path))
    assert await handshake(server, client) == (
        "spiffe://cluster.local/ns/default/sa/productpage",
        "spiffe://cluster.local/ns/default/sa/reviews",
    )


async def test_mutual_tls_across_a_root_rotation(ca: CertificateAuthority, tmp_path: Path) -> None:
    old_key, old_chain, _ = credentials(ca, "reviews", tmp_path)
    ca.rotate_root(overlap=timedelta(hours=1))
    new_key, new_chain, bundle = credentials(ca, "productpage", tmp_path)
    # Each side holds a certificate of a different root; the bundle (both roots) bridges them.
    server = context(ssl.Purpose.CLIENT_AUTH, old_key, old_chain, bundle)
    client = context(ssl.Purpose.SERVER_AUTH, new_key, new_chain, bundle)
    seen = await handshake(server, client)
    assert seen[1] == "spiffe://cluster.local/ns/default/sa/reviews"


async def test_an_svid_of_another_mesh_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    stranger_ca = CertificateAuthority(type(ca.settings)(state_dir=tmp_path / "other-mesh"))
    server = context(ssl.Purpose.CLIENT_AUTH, *credentials(ca, "reviews", tmp_path))
    (tmp_path / "other").mkdir()
    key, chain, _ = credentials(stranger_ca, "productpage", tmp_path / "other")
    _, _, our_bundle = credentials(ca, "ratings", tmp_path)
    client = context(ssl.Purpose.SERVER_AUTH, key, chain, our_bundle)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(server, client)
