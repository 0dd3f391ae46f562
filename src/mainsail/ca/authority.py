"""The CA's signing material: a self-signed root (istiod's default) or a plugged-in CA from
Istio's ``cacerts`` files; root rotation with an overlap; the trust bundle.

A self-signed root signs SVIDs itself. A plugged-in CA signs with ``ca-cert.pem``/``ca-key.pem``
(typically an intermediate of an organisation's root), ``cert-chain.pem`` holds the
intermediates up to ``root-cert.pem`` (which may hold several roots: a shared root across meshes
or a migration). The trust bundle is every root still trusted at a moment: the current root(s)
plus rotated-out roots until their overlap ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.errors import CaStateError
from mainsail.ca.layout import (
    CA_CERT,
    CA_KEY,
    CERT_CHAIN,
    ROOT_CERT,
    CaLayout,
    write_private,
    write_public,
)
from mainsail.ca.pki import (
    SigningKey,
    cert_pem,
    describe,
    is_ca,
    is_self_signed,
    issued_by,
    key_pem,
    new_p256_key,
    read_certs,
    read_key,
    self_signed_root,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedRoot:
    certificate: x509.Certificate
    # None: a current root, trusted for its whole validity; else the end of its overlap.
    trusted_until: datetime | None = None

    def trusted_at(self, now: datetime) -> bool:
        if now >= self.certificate.not_valid_after_utc:
            return False
        return self.trusted_until is None or now < self.trusted_until


@dataclass(frozen=True, slots=True, kw_only=True)
class CaMaterial:
    """What signs SVIDs, and what verifies them."""

    key: SigningKey
    certificate: x509.Certificate
    # Between ``certificate`` and its root, nearest first (empty for a self-signed root).
    intermediates: tuple[x509.Certificate, ...]
    roots: tuple[TrustedRoot, ...]
    plugged_in: bool
    source: Path

    def bundle(self, now: datetime) -> tuple[x509.Certificate, ...]:
        return tuple(r.certificate for r in self.roots if r.trusted_at(now))

    def bundle_pem(self, now: datetime) -> str:
        return "".join(cert_pem(c) for c in self.bundle(now))


def load_material(
    layout: CaLayout,
    *,
    trust_domain: str,
    root_ttl: timedelta,
    now: datetime,
    cacerts_dir: Path | None = None,
) -> CaMaterial:
    """The plugged-in CA of ``cacerts_dir`` (or ``<home>/ca/cacerts`` when it has a
    ``ca-cert.pem``), else the self-signed root of the state directory, created on first use."""
    if cacerts_dir is None and (layout.default_cacerts_dir / CA_CERT).exists():
        cacerts_dir = layout.default_cacerts_dir
    if cacerts_dir is not None:
        return load_plugged_in(cacerts_dir, _previous_roots(layout))
    return _load_or_create_self_signed(layout, trust_domain, root_ttl, now)


def load_plugged_in(directory: Path, previous: tuple[TrustedRoot, ...] = ()) -> CaMaterial:
    """Istio's ``cacerts``: the signing pair, the chain above it, the root(s); all checked."""
    for name in (CA_CERT, CA_KEY, ROOT_CERT):
        if not (directory / name).is_file():
            raise CaStateError(f"plugged-in CA {directory}: {name} is missing")
    signing_certs = read_certs(directory / CA_CERT)
    if len(signing_certs) != 1:
        raise CaStateError(
            f"{directory / CA_CERT}: want exactly one certificate, found {len(signing_certs)}"
        )
    signing = signing_certs[0]
    key = read_key(directory / CA_KEY)
    if key.public_key() != signing.public_key():
        raise CaStateError(f"{directory / CA_KEY}: does not match {directory / CA_CERT}")
    if not is_ca(signing):
        raise CaStateError(f"{directory / CA_CERT}: {describe(signing)} is not a CA certificate")
    roots = read_certs(directory / ROOT_CERT)
    if not roots:
        raise CaStateError(f"{directory / ROOT_CERT}: no certificate in it")
    chain = read_certs(directory / CERT_CHAIN) if (directory / CERT_CHAIN).is_file() else ()
    root_fingerprints = {r.fingerprint(hashes.SHA256()) for r in roots}
    # cert-chain.pem conventionally repeats ca-cert.pem and the root; keep what lies between.
    intermediates = tuple(
        c for c in chain if c != signing and c.fingerprint(hashes.SHA256()) not in root_fingerprints
    )
    _check_chain(directory, signing, intermediates, roots)
    current = tuple(TrustedRoot(certificate=r) for r in roots)
    extra = tuple(p for p in previous if p.certificate not in roots)
    return CaMaterial(
        key=key,
        certificate=signing,
        intermediates=intermediates,
        roots=current + extra,
        plugged_in=True,
        source=directory,
    )


def root_due_for_rotation(material: CaMaterial, now: datetime, grace_ratio: float) -> bool:
    """Whether a self-signed root has less than ``grace_ratio`` of its life left."""
    if material.plugged_in or grace_ratio <= 0:
        return False
    root = material.certificate
    life = root.not_valid_after_utc - root.not_valid_before_utc
    return root.not_valid_after_utc - now < life * grace_ratio


def rotate_root(
    layout: CaLayout,
    material: CaMaterial,
    *,
    trust_domain: str,
    root_ttl: timedelta,
    overlap: timedelta,
    now: datetime,
) -> CaMaterial:
    """A new self-signed root signs from now on; the old one stays in the bundle for ``overlap``
    so SVIDs it signed keep verifying until they are renewed."""
    if material.plugged_in:
        raise CaStateError(
            f"the CA is plugged in from {material.source}: rotate its root by replacing the "
            "files (root-cert.pem may list the old and the new root) and restarting"
        )
    if overlap < timedelta(0):
        raise CaStateError(f"root rotation overlap must not be negative, got {overlap}")
    previous = tuple(
        TrustedRoot(certificate=r.certificate, trusted_until=r.trusted_until or now + overlap)
        for r in material.roots
        if r.trusted_at(now)
    )
    _write_previous_roots(layout, previous)
    key = new_p256_key()
    root = self_signed_root(key, trust_domain, now, root_ttl)
    _write_self_signed(layout, key, root)
    return CaMaterial(
        key=key,
        certificate=root,
        intermediates=(),
        roots=(TrustedRoot(certificate=root), *previous),
        plugged_in=False,
        source=layout.self_signed_dir,
    )


def _load_or_create_self_signed(
    layout: CaLayout, trust_domain: str, root_ttl: timedelta, now: datetime
) -> CaMaterial:
    directory = layout.self_signed_dir
    if (directory / CA_CERT).exists() or (directory / CA_KEY).exists():
        certs = read_certs(directory / CA_CERT)
        if len(certs) != 1:
            raise CaStateError(
                f"{directory / CA_CERT}: want exactly one certificate, found {len(certs)}"
            )
        root, key = certs[0], read_key(directory / CA_KEY)
        if key.public_key() != root.public_key() or not is_self_signed(root):
            raise CaStateError(f"{directory}: {CA_KEY} and {CA_CERT} are not a self-signed pair")
    else:
        key = new_p256_key()
        root = self_signed_root(key, trust_domain, now, root_ttl)
        _write_self_signed(layout, key, root)
    previous = tuple(p for p in _previous_roots(layout) if p.certificate != root)
    return CaMaterial(
        key=key,
        certificate=root,
        intermediates=(),
        roots=(TrustedRoot(certificate=root), *previous),
        plugged_in=False,
        source=directory,
    )


def _write_self_signed(
    layout: CaLayout, key: ec.EllipticCurvePrivateKey, root: x509.Certificate
) -> None:
    # Key first: a crash in between leaves a key without a cert, which the loader refuses
    # loudly rather than pairing an old cert with a new key.
    write_private(layout.self_signed_dir / CA_KEY, key_pem(key))
    write_public(layout.self_signed_dir / CA_CERT, cert_pem(root).encode("ascii"))


def _previous_roots(layout: CaLayout) -> tuple[TrustedRoot, ...]:
    path = layout.previous_roots_file
    if not path.exists():
        return ()
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return tuple(
            TrustedRoot(
                certificate=x509.load_pem_x509_certificate(item["pem"].encode("ascii")),
                trusted_until=datetime.fromisoformat(item["trusted_until"]).astimezone(UTC),
            )
            for item in items
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CaStateError(f"{path}: unreadable previous roots: {exc}") from exc


def _write_previous_roots(layout: CaLayout, roots: tuple[TrustedRoot, ...]) -> None:
    items = [
        {
            "pem": cert_pem(r.certificate),
            "trusted_until": (r.trusted_until or r.certificate.not_valid_after_utc).isoformat(),
        }
        for r in roots
    ]
    write_public(layout.previous_roots_file, json.dumps(items, indent=2).encode("utf-8"))


def _check_chain(
    directory: Path,
    signing: x509.Certificate,
    intermediates: tuple[x509.Certificate, ...],
    roots: tuple[x509.Certificate, ...],
) -> None:
    current = signing
    for parent in intermediates:
        if not issued_by(current, parent):
            raise CaStateError(
                f"{directory / CERT_CHAIN}: {describe(current)} is not signed by {describe(parent)}"
                " (list the chain from the CA certificate towards the root)"
            )
        current = parent
    if not any(issued_by(current, root) for root in roots):
        raise CaStateError(
            f"{directory}: {describe(current)} is not signed by any root in {ROOT_CERT}"
        )
