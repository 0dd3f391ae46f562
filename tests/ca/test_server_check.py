"""``certificate_problem``: the words an agent logs when the control plane's certificate is not
the one it expects (no network: certificates made on the spot)."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.server_check import certificate_problem
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import ISTIOD_SAN, issue_serving_certificate, istiod_dns_names

from .conftest import SettableClock, ca_certificate, pem_of


def serving_leaf(ca: CertificateAuthority, clock: SettableClock) -> x509.Certificate:
    return issue_serving_certificate(
        ca.material,
        dns_names=istiod_dns_names(),
        ip_addresses=(),
        lifetime=timedelta(hours=1),
        now=clock(),
    ).certificate


def test_a_good_certificate_has_no_problem(ca: CertificateAuthority, clock: SettableClock) -> None:
    leaf = serving_leaf(ca, clock)
    assert certificate_problem(leaf, ca.roots_pem(), ISTIOD_SAN, now=clock()) is None
    # Any of istiod's names will do.
    assert certificate_problem(leaf, ca.roots_pem(), "istio-pilot.istio-system.svc") is None


def test_a_wrong_san_names_the_expected_and_the_presented_ones(
    ca: CertificateAuthority, clock: SettableClock
) -> None:
    problem = certificate_problem(serving_leaf(ca, clock), ca.roots_pem(), "istiod.other.svc")
    assert problem is not None
    assert "not the expected SAN 'istiod.other.svc' (ISTIOD_SAN)" in problem
    assert "DNS:istiod.istio-system.svc" in problem
    assert ca.material.certificate.subject.rfc4514_string() in problem


def test_another_root_names_the_issuer_and_the_trusted_roots(
    ca: CertificateAuthority, clock: SettableClock
) -> None:
    stranger = ca_certificate("Other Root", ec.generate_private_key(ec.SECP256R1()))
    problem = certificate_problem(serving_leaf(ca, clock), pem_of(stranger), ISTIOD_SAN)
    assert problem is not None
    issuer = ca.material.certificate.subject.rfc4514_string()
    assert f"issued by {issuer}, which is not a root of the trust bundle" in problem
    assert "trusted: CN=Other Root,O=Example Org (serial" in problem
    assert "another key" not in problem


def test_a_root_with_the_same_name_but_another_key_is_called_out(
    ca: CertificateAuthority, clock: SettableClock
) -> None:
    """Two meshes' self-signed roots made in the same second look alike by name."""
    real = ca.material.certificate
    key = ec.generate_private_key(ec.SECP256R1())
    twin = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    problem = certificate_problem(serving_leaf(ca, clock), pem_of(twin), ISTIOD_SAN)
    assert problem is not None and "a trusted root has that name but another key" in problem


def test_an_expired_certificate_says_when_it_was_valid(
    ca: CertificateAuthority, clock: SettableClock
) -> None:
    leaf = serving_leaf(ca, clock)
    problem = certificate_problem(
        leaf, ca.roots_pem(), ISTIOD_SAN, now=clock() + timedelta(hours=2)
    )
    assert problem is not None and "is valid only from" in problem
