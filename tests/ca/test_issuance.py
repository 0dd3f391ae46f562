"""The SVIDs the CA issues follow the SPIFFE X.509-SVID rules and Istio's chain order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mainsail.ca.service import CertificateAuthority

from .conftest import (
    SLEEP,
    SettableClock,
    bearer,
    certs,
    csr_pem,
    openssl_verify,
    token_for,
    verify_chain,
)


def issue(ca: CertificateAuthority, ttl: int = 0, spiffe_id: str = SLEEP) -> tuple[str, ...]:
    return ca.create_certificate(bearer(token_for(ca)), csr_pem(spiffe_id), ttl)


def test_svid_has_exactly_one_uri_san_and_is_not_a_ca(ca: CertificateAuthority) -> None:
    leaf = certs(issue(ca)[0])[0]

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert list(san.value) == [x509.UniformResourceIdentifier(SLEEP)]
    assert san.critical  # the subject is empty (RFC 5280 4.2.1.6)
    assert leaf.subject == x509.Name([])
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert not usage.key_cert_sign and not usage.crl_sign
    extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(extended) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"


def test_serials_are_random_and_distinct(ca: CertificateAuthority) -> None:
    serials = {certs(issue(ca)[0])[0].serial_number for _ in range(20)}
    assert len(serials) == 20
    # Random 159-bit serials, not a counter: all far from small numbers.
    assert min(serials) > 2**64


def test_default_ttl_and_requested_ttl(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca(workload_ttl=timedelta(hours=1), max_workload_ttl=timedelta(hours=24))
    default = certs(issue(ca, ttl=0)[0])[0]
    assert default.not_valid_before_utc == clock.now
    assert default.not_valid_after_utc - clock.now == timedelta(hours=1)
    negative = certs(issue(ca, ttl=-5)[0])[0]
    assert negative.not_valid_after_utc - clock.now == timedelta(hours=1)
    asked = certs(issue(ca, ttl=600)[0])[0]
    assert asked.not_valid_after_utc - clock.now == timedelta(minutes=10)


def test_ttl_beyond_the_maximum_is_clamped(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca(workload_ttl=timedelta(hours=1), max_workload_ttl=timedelta(hours=2))
    leaf = certs(issue(ca, ttl=10 * 24 * 3600)[0])[0]
    assert leaf.not_valid_after_utc - clock.now == timedelta(hours=2)


def test_self_signed_chain_is_leaf_then_root_and_verifies(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    chain = issue(ca)
    assert len(chain) == 2
    assert [c.subject for c in certs(chain[-1])] == [ca.material.certificate.subject]
    assert certs(chain[-1]) == list(ca.roots())
    path = verify_chain(chain)
    assert path[-1] == ca.material.certificate
    result = openssl_verify(tmp_path, chain)
    assert result.returncode == 0, result.stdout + result.stderr


def test_self_signed_root_is_a_long_lived_ca(
    ca: CertificateAuthority, clock: SettableClock
) -> None:
    root = ca.material.certificate
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.not_valid_after_utc - clock.now == timedelta(days=3650)
    assert x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "cluster.local") in root.subject


def test_trust_domain_comes_from_settings(make_ca: Callable[..., CertificateAuthority]) -> None:
    ca = make_ca(trust_domain="example.org")
    chain = issue(ca, spiffe_id="spiffe://example.org/ns/default/sa/sleep")
    san = certs(chain[0])[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://example.org/ns/default/sa/sleep"
    ]


def test_every_issued_svid_is_recorded(ca: CertificateAuthority) -> None:
    leaf = certs(issue(ca)[0])[0]
    (record,) = ca.issued()
    assert record.serial == f"{leaf.serial_number:x}"
    assert record.workload == "default/sleep"
    assert record.spiffe_id == SLEEP
    assert record.pod == "sleep-1"
    assert record.not_after == leaf.not_valid_after_utc


def test_expired_records_are_forgotten_on_restart(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca()
    short = certs(issue(ca, ttl=60)[0])[0]
    long = certs(issue(ca, ttl=7200)[0])[0]
    assert len(ca.issued(unexpired=False)) == 2
    clock.advance(timedelta(minutes=5))
    restarted = make_ca()
    assert [r.serial for r in restarted.issued(unexpired=False)] == [f"{long.serial_number:x}"]
    assert f"{short.serial_number:x}" not in restarted.layout.issued_file.read_text()
