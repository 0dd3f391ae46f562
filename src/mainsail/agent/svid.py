"""A workload's X.509 SVID: its key, the CSR the CA signs, the signed chain, and when to renew.

Pure except ``generate_key`` (randomness): the key is an ECDSA P-256 key made here and never
leaves the agent (Istio's ``ECC_SIGNATURE_ALGORITHM=ECDSA``); the CSR carries exactly one URI SAN,
the SPIFFE ID, and an empty subject (as istio-agent's ``GenCSR``, so the SAN is critical).

The CA answers a chain, leaf first and its root(s) last. As istio-agent, the certificate chain
Envoy presents is the whole answer in order (leaf, intermediates, roots), and the trust bundle
(``ROOTCA``) is its self-signed certificates: during a root rotation the CA sends both roots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.agent.errors import SvidError

# Istio's SECRET_GRACE_PERIOD_RATIO and SECRET_GRACE_PERIOD_RATIO_JITTER (secretcache.go).
GRACE_PERIOD_RATIO = 0.5
GRACE_PERIOD_JITTER = 0.01

_PEM_END = "-----END CERTIFICATE-----"


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def build_csr(key: ec.EllipticCurvePrivateKey, spiffe_id: str) -> str:
    """A PEM CSR with an empty subject and the one URI SAN ``spiffe_id`` (critical)."""
    if not spiffe_id.startswith("spiffe://"):
        raise SvidError(f"CSR identity {spiffe_id!r}: not a spiffe:// URI")
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def split_pem(text: str) -> tuple[str, ...]:
    """Each certificate of a PEM bundle, in order, each ending with a newline."""
    blocks: list[str] = []
    for part in text.split(_PEM_END):
        start = part.find("-----BEGIN CERTIFICATE-----")
        if start >= 0:
            blocks.append(part[start:] + _PEM_END + "\n")
    return tuple(blocks)


@dataclass(frozen=True, slots=True, kw_only=True)
class Svid:
    """A signed identity: ``chain`` is the CA's whole answer, leaf first (what Envoy presents, as
    istio-agent's ``default``), ``roots`` the trust bundle (``ROOTCA``), ``key`` the private key
    PEM."""

    spiffe_id: str
    key: str
    chain: tuple[str, ...]
    roots: tuple[str, ...]
    serial: int
    not_before: datetime
    not_after: datetime

    @property
    def chain_pem(self) -> str:
        return "".join(self.chain)

    @property
    def roots_pem(self) -> str:
        return "".join(self.roots)

    @property
    def lifetime_s(self) -> float:
        return (self.not_after - self.not_before).total_seconds()

    def remaining_s(self, now: float) -> float:
        return self.not_after.timestamp() - now


def svid_from_response(
    response: tuple[str, ...], *, key: ec.EllipticCurvePrivateKey, spiffe_id: str
) -> Svid:
    """Check the CA's answer (leaf first, roots last) against our key and identity.

    Raises ``SvidError`` naming what does not match: an answer that does not carry our public
    key or our SPIFFE ID must never be served to Envoy.
    """
    try:
        certs = [x509.load_pem_x509_certificate(p.encode()) for r in response for p in split_pem(r)]
    except ValueError as error:
        raise SvidError(f"CA response: a certificate does not parse: {error}") from error
    if not certs:
        raise SvidError("CA response: no certificate in the chain")
    leaf = certs[0]
    ours = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if ours != theirs:
        raise SvidError("CA response: the leaf certificate is not for the key of our CSR")
    uris = _uri_sans(leaf)
    if uris != [spiffe_id]:
        raise SvidError(
            f"CA response: the leaf certificate's URI SANs are {uris}, want [{spiffe_id!r}]"
        )
    pems = [c.public_bytes(serialization.Encoding.PEM).decode() for c in certs]
    roots = tuple(p for c, p in zip(certs[1:], pems[1:], strict=True) if _self_signed(c))
    chain = tuple(pems)
    if not roots:
        raise SvidError("CA response: no self-signed root certificate after the leaf")
    return Svid(
        spiffe_id=spiffe_id,
        key=key_pem(key),
        chain=chain,
        roots=roots,
        serial=leaf.serial_number,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def renewal_time(svid: Svid, rng: random.Random | None = None) -> float:
    """When to renew (epoch seconds): once the remaining life drops under the grace ratio of the
    lifetime, the ratio jittered by ±``GRACE_PERIOD_JITTER`` so a fleet does not renew at once."""
    r = rng or random.Random()
    ratio = GRACE_PERIOD_RATIO + r.uniform(-GRACE_PERIOD_JITTER, GRACE_PERIOD_JITTER)
    return svid.not_after.timestamp() - ratio * svid.lifetime_s


def describe(svid: Svid) -> str:
    """For logs: identity, serial and validity."""
    return (
        f"{svid.spiffe_id} serial {svid.serial:x} valid "
        f"{_iso(svid.not_before)} .. {_iso(svid.not_after)}"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(u) for u in ext.value.get_values_for_type(x509.UniformResourceIdentifier)]


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
