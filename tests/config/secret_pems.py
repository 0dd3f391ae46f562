"""PEM certificates and keys for Secret tests: a CA and leaves it signs, made per test run."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mainsail.ca.pki import new_p256_key, self_signed_root


@dataclass(frozen=True)
class Leaf:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class Ca:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, common_name: str) -> Ca:
        key = new_p256_key()
        cert = self_signed_root(key, common_name, dt.datetime.now(dt.UTC), dt.timedelta(days=1))
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, dns_name: str) -> Leaf:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Leaf(cert, key)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tls_secret_yaml(
    name: str, namespace: str, leaf: Leaf, ca: bytes | None = None, *, generic: bool = False
) -> str:
    """A Secret document: ``kubernetes.io/tls`` (``tls.crt``/``tls.key``/``ca.crt``) or, with
    ``generic``, Opaque with ``cert``/``key``/``cacert``."""
    cert_key, key_key, ca_key = (
        ("cert", "key", "cacert") if generic else ("tls.crt", "tls.key", "ca.crt")
    )
    kind = "Opaque" if generic else "kubernetes.io/tls"
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        f"metadata: {{name: {name}, namespace: {namespace}}}",
        f"type: {kind}",
        "data:",
        f"  {cert_key}: {b64(leaf.cert_pem)}",
        f"  {key_key}: {b64(leaf.key_pem)}",
    ]
    if ca is not None:
        lines.append(f"  {ca_key}: {b64(ca)}")
    return "\n".join(lines) + "\n"


def ca_secret_yaml(name: str, namespace: str, ca: bytes) -> str:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
        f"type: Opaque\ndata:\n  ca.crt: {b64(ca)}\n"
    )
