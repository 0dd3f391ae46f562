"""The requesting side's half: a fresh P-256 key and a CSR for one SPIFFE ID, as istio-agent
generates them (the node agent and ``mainsail ca issue`` use this)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mainsail.ca.pki import key_pem, new_p256_key


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadCsr:
    key_pem: str  # PKCS#8, unencrypted: it goes to Envoy over SDS
    csr_pem: str


def new_workload_csr(spiffe_id: str) -> WorkloadCsr:
    key = new_p256_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return WorkloadCsr(
        key_pem=key_pem(key).decode("ascii"),
        csr_pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )
