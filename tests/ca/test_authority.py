"""Where the CA's signing material comes from: a self-signed root kept in the state directory,
or an organisation's CA plugged in with Istio's ``cacerts`` files; root rotation with overlap."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import VerificationError

from mainsail.ca.errors import CaStateError
from mainsail.ca.service import CertificateAuthority

from .conftest import (
    SLEEP,
    OrgPki,
    SettableClock,
    bearer,
    ca_certificate,
    certs,
    csr_pem,
    key_pem_of,
    openssl_verify,
    pem_of,
    token_for,
    verify_chain,
    verify_with,
)


def issue(ca: CertificateAuthority, ttl: int = 0) -> tuple[str, ...]:
    return ca.create_certificate(bearer(token_for(ca)), csr_pem(SLEEP), ttl)


def test_self_signed_root_is_created_once_and_kept(
    make_ca: Callable[..., CertificateAuthority], tmp_path: Path
) -> None:
    first = make_ca()
    key_file = tmp_path / "ca" / "self-signed" / "ca-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token_key = tmp_path / "ca" / "token-signing-key.pem"
    assert stat.S_IMODE(token_key.stat().st_mode) == 0o600
    again = make_ca()
    assert again.material.certificate == first.material.certificate
    # A restarted CA still accepts tokens minted before (same token-signing key).
    verify_chain(again.create_certificate(bearer(token_for(first)), csr_pem(), 0))


def test_plugged_in_ca_chains_to_the_org_root(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki, tmp_path: Path
) -> None:
    ca = make_ca(cacerts_dir=org_pki.directory)
    chain = issue(ca)

    # Leaf, the mesh's intermediate, the org root last (cert-chain.pem's copy of the root and
    # of ca-cert.pem are not repeated).
    assert len(chain) == 3
    assert certs(chain[1]) == [org_pki.intermediate]
    assert certs(chain[-1]) == [org_pki.root]
    # Verifies to the org root alone: anything trusting the organisation trusts the mesh.
    leaf = certs(chain[0])[0]
    path = verify_with(leaf, [org_pki.intermediate], [org_pki.root])
    assert path == [leaf, org_pki.intermediate, org_pki.root]
    result = openssl_verify(tmp_path, chain)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cacerts_in_the_state_directory_are_picked_up(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki, tmp_path: Path
) -> None:
    (tmp_path / "ca").mkdir()
    org_pki.directory.rename(tmp_path / "ca" / "cacerts")
    ca = make_ca()
    assert ca.material.plugged_in
    assert certs(issue(ca)[-1]) == [org_pki.root]


def test_shared_root_file_with_two_roots_trusts_both(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki
) -> None:
    other_root = ca_certificate("Other Mesh Root", ec.generate_private_key(ec.SECP256R1()))
    (org_pki.directory / "root-cert.pem").write_text(pem_of(org_pki.root, other_root))
    ca = make_ca(cacerts_dir=org_pki.directory)
    assert list(ca.roots()) == [org_pki.root, other_root]
    verify_chain(issue(ca))


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda d: (d / "ca-key.pem").unlink(), "ca-key.pem is missing"),
        (lambda d: (d / "root-cert.pem").unlink(), "root-cert.pem is missing"),
        (lambda d: (d / "ca-cert.pem").write_text("garbage"), "ca-cert.pem: not PEM"),
        (
            lambda d: (d / "ca-key.pem").write_text(
                key_pem_of(ec.generate_private_key(ec.SECP256R1()))
            ),
            "ca-key.pem: does not match",
        ),
        (
            lambda d: (d / "root-cert.pem").write_text(
                pem_of(ca_certificate("Stranger", ec.generate_private_key(ec.SECP256R1())))
            ),
            "is not signed by any root in root-cert.pem",
        ),
    ],
)
def test_broken_cacerts_refuse_to_start_naming_the_file(
    make_ca: Callable[..., CertificateAuthority],
    org_pki: OrgPki,
    breakage: Callable[[Path], object],
    expected: str,
) -> None:
    breakage(org_pki.directory)
    with pytest.raises(CaStateError, match=expected) as info:
        make_ca(cacerts_dir=org_pki.directory)
    assert str(org_pki.directory) in str(info.value)


def test_a_leaf_certificate_cannot_be_plugged_in_as_the_ca(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki, tmp_path: Path
) -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = ca_certificate("Root", root_key)
    leaf = ca_certificate("Not A CA", leaf_key, (root, root_key), ca=False)
    (org_pki.directory / "ca-cert.pem").write_text(pem_of(leaf))
    (org_pki.directory / "ca-key.pem").write_text(key_pem_of(leaf_key))
    (org_pki.directory / "root-cert.pem").write_text(pem_of(root))
    with pytest.raises(CaStateError, match="is not a CA certificate"):
        make_ca(cacerts_dir=org_pki.directory)


def test_root_rotation_keeps_the_old_root_trusted_during_the_overlap(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca()
    old_root = ca.material.certificate
    old_chain = issue(ca, ttl=4 * 3600)  # outlives the overlap
    old_leaf = certs(old_chain[0])[0]

    clock.advance(timedelta(minutes=5))
    new_root = ca.rotate_root(overlap=timedelta(hours=2))
    assert new_root != old_root
    assert list(ca.roots()) == [new_root, old_root]

    # New SVIDs are signed by the new root and carry the whole bundle last.
    new_chain = issue(ca)
    assert certs(new_chain[-1]) == [new_root, old_root]
    assert verify_chain(new_chain, at=clock.now)[-1] == new_root
    # The SVID the old root signed still verifies against the bundle during the overlap.
    path = verify_with(old_leaf, [], list(ca.roots()), at=clock.now)
    assert path[-1] == old_root

    # After the overlap the old root leaves the bundle and its SVIDs stop verifying
    # (the SVID itself is still within its validity).
    clock.advance(timedelta(hours=2))
    assert clock.now < old_leaf.not_valid_after_utc
    assert list(ca.roots()) == [new_root]
    assert certs(issue(ca)[-1]) == [new_root]
    with pytest.raises(VerificationError):
        verify_with(old_leaf, [], list(ca.roots()), at=clock.now)


def test_rotation_survives_a_restart(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca()
    old_root = ca.material.certificate
    new_root = ca.rotate_root(overlap=timedelta(hours=1))
    restarted = make_ca()
    assert restarted.material.certificate == new_root
    assert list(restarted.roots()) == [new_root, old_root]
    clock.advance(timedelta(hours=1, seconds=1))
    assert list(restarted.roots()) == [new_root]


def test_a_plugged_in_root_is_not_rotated_by_the_ca(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki
) -> None:
    ca = make_ca(cacerts_dir=org_pki.directory)
    with pytest.raises(CaStateError, match="replacing the files"):
        ca.rotate_root(overlap=timedelta(hours=1))


def test_self_signed_root_is_replaced_near_its_end_and_stays_trusted_until_it_expires(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca(root_ttl=timedelta(days=10), root_grace_ratio=0.2)
    old_root = ca.material.certificate
    old_leaf = certs(issue(ca, ttl=3 * 86400)[0])[0]

    clock.advance(timedelta(days=7, hours=23))  # 2 days and 1 hour left: not yet due
    issue(ca)
    assert ca.material.certificate == old_root

    clock.advance(timedelta(hours=2))  # under 2 days (20 %) left
    chain = issue(ca)
    new_root = ca.material.certificate
    assert new_root != old_root
    assert certs(chain[-1]) == [new_root, old_root]
    assert verify_chain(chain, at=clock.now)[-1] == new_root
    assert verify_with(old_leaf, [], list(ca.roots()), at=clock.now - timedelta(days=6))

    clock.advance(timedelta(days=2))  # the old root has expired
    assert list(ca.roots()) == [new_root]


def test_root_grace_ratio_zero_never_rotates(
    make_ca: Callable[..., CertificateAuthority], clock: SettableClock
) -> None:
    ca = make_ca(root_ttl=timedelta(days=10), root_grace_ratio=0)
    root = ca.material.certificate
    clock.advance(timedelta(days=9))
    issue(ca)
    assert ca.material.certificate == root
