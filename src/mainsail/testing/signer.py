"""An in-memory CA for node-agent tests: real X.509 (cryptography), no network.

It implements the agent's ``CertificateSigner``: it signs a CSR for the identity it expects,
refuses any other (as the mesh CA does when the CSR's SAN is not the token's identity), and can be
made unreachable or given a second root (a root rotation's overlap) by the test.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.agent.errors import CaUnreachable, CsrRefused
from mainsail.ca.pki import new_p256_key, self_signed_root


def _root(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = new_p256_key()
    now = dt.datetime.now(dt.UTC)
    return key, self_signed_root(key, name, now, dt.timedelta(days=1))


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(slots=True)
class InMemoryCa:
    """Signs CSRs whose one URI SAN is in ``allowed`` (all, when empty)."""

    allowed: set[str] = field(default_factory=set)
    unreachable: bool = False
    calls: int = 0
    tokens: list[str] = field(default_factory=list)
    issued: list[x509.Certificate] = field(default_factory=list)
    _key: ec.EllipticCurvePrivateKey = field(init=False)
    root: x509.Certificate = field(init=False)
    extra_roots: list[x509.Certificate] = field(default_factory=list)
    # Epoch seconds for the validity of what it signs (a test's fake clock).
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._key, self.root = _root("mainsail test CA")

    def add_root(self) -> x509.Certificate:
        """A second trusted root, sent after ours (the overlap of a root rotation)."""
        _, cert = _root(f"mainsail test CA {len(self.extra_roots) + 2}")
        self.extra_roots.append(cert)
        return cert

    @property
    def roots_pem(self) -> str:
        return "".join(_pem(c) for c in (self.root, *self.extra_roots))

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        self.calls += 1
        if self.unreachable:
            raise CaUnreachable("test CA: connection refused")
        self.tokens.append(token)
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
        if len(uris) != 1 or (self.allowed and uris[0] not in self.allowed):
            raise CsrRefused(f"PERMISSION_DENIED: identity {uris} is not the caller's")
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.root.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(seconds=ttl_seconds))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uris[0])]),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.issued.append(cert)
        return (_pem(cert), *(_pem(c) for c in (self.root, *self.extra_roots)))
