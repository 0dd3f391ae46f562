"""Fixtures for the mesh CA: a CA in a temporary state directory with a settable clock, CSRs of
every shape the CA must refuse, an organisation's PKI made on the spot, and chain checks."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from mainsail.ca.csr import new_workload_csr
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.settings import CaSettings
from mainsail.ca.tokens import mint_pod_token

SLEEP = "spiffe://cluster.local/ns/default/sa/sleep"


class SettableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_ca(tmp_path: Path, clock: SettableClock) -> Callable[..., CertificateAuthority]:
    def make(**overrides: object) -> CertificateAuthority:
        settings = CaSettings(state_dir=tmp_path / "ca", **overrides)  # type: ignore[arg-type]
        return CertificateAuthority(settings, clock=clock)

    return make


@pytest.fixture
def ca(make_ca: Callable[..., CertificateAuthority]) -> CertificateAuthority:
    return make_ca()


def token_for(
    ca: CertificateAuthority, namespace: str = "default", account: str = "sleep", ttl: float = 600
) -> str:
    return mint_pod_token(ca.layout.token_signing_key, namespace, account, f"{account}-1", ttl)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def csr_pem(spiffe_id: str = SLEEP) -> str:
    return new_workload_csr(spiffe_id).csr_pem


def custom_csr(
    sans: Sequence[x509.GeneralName] | None,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
) -> str:
    """A CSR with exactly these SANs (None: no SAN extension) and key (default P-256)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def verify_chain(chain: Sequence[str], at: datetime | None = None) -> list[x509.Certificate]:
    """Verify the leaf against the chain's own trust bundle (its last element) with
    cryptography's RFC 5280 verifier; the verified path, leaf first."""
    leaf = certs(chain[0])[0]
    intermediates = [c for pem in chain[1:-1] for c in certs(pem)]
    return verify_with(leaf, intermediates, certs(chain[-1]), at)


def verify_with(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: datetime | None = None,
) -> list[x509.Certificate]:
    builder = PolicyBuilder().store(Store(list(roots)))
    if at is not None:
        builder = builder.time(at)
    verified = builder.build_client_verifier().verify(leaf, list(intermediates))
    return list(verified.chain)


def openssl_verify(tmp_path: Path, chain: Sequence[str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "leaf.pem").write_text(chain[0])
    (tmp_path / "bundle.pem").write_text(chain[-1])
    (tmp_path / "untrusted.pem").write_text("".join(chain[1:-1]))
    command = ["openssl", "verify", "-CAfile", str(tmp_path / "bundle.pem")]
    if len(chain) > 2:
        command += ["-untrusted", str(tmp_path / "untrusted.pem")]
    return subprocess.run(
        [*command, str(tmp_path / "leaf.pem")], capture_output=True, text=True, check=False
    )


@dataclass(frozen=True)
class OrgPki:
    """An organisation's root and an intermediate it signed for the mesh, as PEM files in
    Istio's ``cacerts`` layout."""

    root: x509.Certificate
    intermediate: x509.Certificate
    directory: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ca_certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    *,
    ca: bool = True,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else key
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
        .sign(signing_key, hashes.SHA256())
    )


def pem_of(*items: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in items)


def key_pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def org_pki(tmp_path: Path) -> OrgPki:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_certificate("Example Org Root CA", root_key)
    mesh_key = ec.generate_private_key(ec.SECP256R1())
    mesh = ca_certificate("Mesh Intermediate CA", mesh_key, (root, root_key))
    directory = tmp_path / "cacerts"
    directory.mkdir()
    (directory / "ca-cert.pem").write_text(pem_of(mesh))
    (directory / "ca-key.pem").write_text(key_pem_of(mesh_key))
    (directory / "root-cert.pem").write_text(pem_of(root))
    # As Istio's tooling writes it: the CA certificate, then the root.
    (directory / "cert-chain.pem").write_text(pem_of(mesh, root))
    return OrgPki(root=root, intermediate=mesh, directory=directory)
