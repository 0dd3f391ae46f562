"""Why a control plane's TLS certificate is not trusted, in words: gRPC only says the handshake
failed, so after a failed TLS call the client looks at the certificate itself (a handshake that
verifies nothing, then the checks gRPC made: chain to a root of the bundle, the expected SAN).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from datetime import UTC, datetime

from cryptography import x509

from mainsail.ca.pki import describe, issued_by


async def untrusted_reason(
    target: str, root_pem: str, server_name: str, *, timeout: float = 5.0
) -> str | None:
    """What is wrong with the certificate ``target`` presents, or None when it verifies
    against ``root_pem`` for ``server_name`` (or cannot be fetched: not a TLS problem)."""
    host, _, port = target.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to look: nothing is sent over this connection
    context.set_alpn_protocols(["h2"])
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host.strip("[]"), int(port), ssl=context, server_hostname=server_name
            ),
            timeout,
        )
    except (OSError, ssl.SSLError, TimeoutError, ValueError):
        return None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if not der:
        return f"the server at {target} presented no certificate"
    return certificate_problem(x509.load_der_x509_certificate(der), root_pem, server_name)


def certificate_problem(
    leaf: x509.Certificate, root_pem: str, server_name: str, now: datetime | None = None
) -> str | None:
    """Why ``leaf`` is not a server certificate for ``server_name`` under the roots of
    ``root_pem``, naming its issuer and SANs; None when it is."""
    roots = x509.load_pem_x509_certificates(root_pem.encode("ascii")) if root_pem.strip() else []
    sans = _sans(leaf)
    shown = ", ".join(sans) or "no SAN"
    issuer = leaf.issuer.rfc4514_string() or "<empty issuer>"
    if f"DNS:{server_name}" not in sans and f"IP:{server_name}" not in sans:
        return (
            f"its certificate (issued by {issuer}) is for {shown}, not the expected SAN "
            f"{server_name!r} (ISTIOD_SAN)"
        )
    if not any(issued_by(leaf, root) for root in roots):
        # The server's intermediates are not at hand here: a leaf under one is reported as
        # not chaining to the bundle only after gRPC's own verification failed.
        trusted = "; ".join(describe(r) for r in roots) or "none"
        # Self-signed roots of two meshes can share a name: say so rather than look alike.
        twin = (
            "; a trusted root has that name but another key"
            if any(r.subject == leaf.issuer for r in roots)
            else ""
        )
        return (
            f"its certificate ({shown}) is issued by {issuer}, which is not a root of the "
            f"trust bundle (trusted: {trusted}{twin})"
        )
    moment = now or datetime.now(UTC)
    if not leaf.not_valid_before_utc <= moment < leaf.not_valid_after_utc:
        return (
            f"its certificate ({shown}, issued by {issuer}) is valid only from "
            f"{leaf.not_valid_before_utc.isoformat()} to {leaf.not_valid_after_utc.isoformat()}"
        )
    return None


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    kinds: dict[type, str] = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.UniformResourceIdentifier: "URI",
    }
    return [f"{kinds.get(type(n), type(n).__name__)}:{n.value}" for n in names]
