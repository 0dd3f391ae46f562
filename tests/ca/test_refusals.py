"""Who may not get what: bad tokens, wrong identities, revoked workloads, malformed CSRs.
A refusal issues nothing, names caller and requested identity, and is logged."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mainsail.ca.errors import CaStateError, InvalidRequest, PermissionDenied, Unauthenticated
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.tokens import mint_pod_token

from .conftest import SLEEP, bearer, csr_pem, custom_csr, token_for, verify_chain


def test_another_identity_is_permission_denied_and_nothing_is_issued(
    ca: CertificateAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    other = "spiffe://cluster.local/ns/default/sa/productpage"
    with (
        caplog.at_level(logging.WARNING, logger="mainsail.ca"),
        pytest.raises(PermissionDenied) as info,
    ):
        ca.create_certificate(bearer(token_for(ca)), csr_pem(other), 0)
    assert "default/sleep" in str(info.value) and other in str(info.value)
    assert ca.issued(unexpired=False) == ()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "pod default/sleep-1" in warning.getMessage()
    assert other in warning.getMessage()


@pytest.mark.parametrize(
    "requested",
    [
        "spiffe://other.domain/ns/default/sa/sleep",  # another trust domain
        "spiffe://cluster.local/ns/prod/sa/sleep",  # same account name, other namespace
    ],
)
def test_identity_must_match_exactly(ca: CertificateAuthority, requested: str) -> None:
    with pytest.raises(PermissionDenied):
        ca.create_certificate(bearer(token_for(ca)), csr_pem(requested), 0)


def test_missing_or_malformed_authorization_is_unauthenticated(ca: CertificateAuthority) -> None:
    with pytest.raises(Unauthenticated, match="no 'authorization: Bearer"):
        ca.create_certificate((), csr_pem(), 0)
    with pytest.raises(Unauthenticated, match="not 'Bearer <token>'"):
        ca.create_certificate((("authorization", "Basic abc"),), csr_pem(), 0)
    with pytest.raises(Unauthenticated, match="invalid"):
        ca.create_certificate(bearer("not-a-jwt"), csr_pem(), 0)
    assert ca.issued(unexpired=False) == ()


def test_expired_token_is_unauthenticated(ca: CertificateAuthority) -> None:
    token = mint_pod_token(
        ca.layout.token_signing_key, "default", "sleep", "sleep-1", 60, issued_at=time.time() - 120
    )
    with pytest.raises(Unauthenticated, match="expired"):
        ca.create_certificate(bearer(token), csr_pem(), 0)


def test_token_signed_by_another_key_is_unauthenticated(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    other_ca = CertificateAuthority(type(ca.settings)(state_dir=tmp_path / "elsewhere"))
    with pytest.raises(Unauthenticated, match="invalid"):
        ca.create_certificate(bearer(token_for(other_ca)), csr_pem(), 0)


def test_token_for_another_audience_is_unauthenticated(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    forged_claims = {
        "iss": "mainsail",
        "aud": ["kubernetes"],
        "sub": "system:serviceaccount:default:sleep",
        "exp": int(time.time()) + 600,
    }
    token = jwt.encode(forged_claims, key, algorithm="ES256")
    with pytest.raises(Unauthenticated):
        ca.create_certificate(bearer(token), csr_pem(), 0)


def test_cached_token_still_expires(ca: CertificateAuthority) -> None:
    token = mint_pod_token(ca.layout.token_signing_key, "default", "sleep", "sleep-1", 2)
    verify_chain(ca.create_certificate(bearer(token), csr_pem(), 0))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            ca.create_certificate(bearer(token), csr_pem(), 0)
        except Unauthenticated as exc:
            assert "expired" in str(exc)
            return
        time.sleep(0.1)  # the token's own 2-second life is the condition waited for
    pytest.fail("a cached token was accepted after its expiry")


@pytest.mark.parametrize(
    ("csr", "expected"),
    [
        ("-----BEGIN CERTIFICATE REQUEST-----\nnonsense\n", "not a PEM certificate request"),
        (custom_csr(None), "no subjectAltName"),
        (
            custom_csr([x509.UniformResourceIdentifier(SLEEP), x509.DNSName("sleep.default")]),
            "exactly one SAN.*carries 2: URI:spiffe://cluster.local/ns/default/sa/sleep, "
            "DNS:sleep.default",
        ),
        (
            custom_csr(
                [
                    x509.UniformResourceIdentifier(SLEEP),
                    x509.UniformResourceIdentifier("spiffe://cluster.local/ns/default/sa/x"),
                ]
            ),
            "exactly one SAN",
        ),
        (custom_csr([x509.DNSName("sleep.default")]), "exactly one SAN, a SPIFFE URI"),
        (
            custom_csr([x509.UniformResourceIdentifier("https://example.com/sleep")]),
            "is not spiffe://<trust-domain>/ns/<namespace>/sa/<account>",
        ),
        (
            custom_csr(
                [x509.UniformResourceIdentifier(SLEEP)], rsa.generate_private_key(65537, 2048)
            ),
            "RSA 2048-bit; this CA issues ECDSA P-256 keys only",
        ),
        (
            custom_csr(
                [x509.UniformResourceIdentifier(SLEEP)], ec.generate_private_key(ec.SECP384R1())
            ),
            "ECDSA on secp384r1",
        ),
    ],
)
def test_malformed_csr_is_invalid_argument(
    ca: CertificateAuthority, csr: str, expected: str
) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        ca.create_certificate(bearer(token_for(ca)), csr, 0)
    assert ca.issued(unexpired=False) == ()


def test_revoked_identity_gets_no_new_certificate_and_its_serials_are_listed(
    ca: CertificateAuthority,
) -> None:
    token = token_for(ca)
    issued = [ca.create_certificate(bearer(token), csr_pem(), 0) for _ in range(2)]
    ca.create_certificate(
        bearer(token_for(ca, account="ratings")),
        csr_pem("spiffe://cluster.local/ns/default/sa/ratings"),
        0,
    )

    revocation = ca.revoke("default", "sleep")

    serials = {f"{x509.load_pem_x509_certificate(c[0].encode()).serial_number:x}" for c in issued}
    assert set(revocation.serials) == serials
    with pytest.raises(PermissionDenied, match="revoked"):
        ca.create_certificate(bearer(token), csr_pem(), 0)
    # Others are unaffected.
    ca.create_certificate(
        bearer(token_for(ca, account="ratings")),
        csr_pem("spiffe://cluster.local/ns/default/sa/ratings"),
        0,
    )
    # The deny list survives a restart.
    restarted = CertificateAuthority(ca.settings)
    with pytest.raises(PermissionDenied, match="revoked"):
        restarted.create_certificate(bearer(token), csr_pem(), 0)
    assert [r.workload for r in restarted.revocations()] == ["default/sleep"]
    assert set(restarted.revocations()[0].serials) == serials


def test_minting_before_the_ca_created_its_key_says_so(tmp_path: Path) -> None:
    with pytest.raises(CaStateError, match="start the control plane before minting"):
        mint_pod_token(tmp_path / "ca" / "token-signing-key.pem", "default", "sleep", "p", 60)
