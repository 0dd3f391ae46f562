"""CSR -> SPIFFE X.509 SVID. Pure given the CA material and a clock value.

The SVID follows the SPIFFE X.509-SVID rules as istiod applies them: exactly one URI SAN (the
workload's SPIFFE ID, critical because the subject is empty), not a CA, digitalSignature +
keyEncipherment, serverAuth + clientAuth, a random serial. Keys must be ECDSA P-256.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mainsail.ca.authority import CaMaterial
from mainsail.ca.errors import InvalidRequest
from mainsail.ca.identity import SpiffeId, parse_spiffe_id
from mainsail.ca.pki import cert_pem


@dataclass(frozen=True, slots=True, kw_only=True)
class TtlPolicy:
    default: timedelta
    maximum: timedelta

    def __post_init__(self) -> None:
        if self.default <= timedelta(0) or self.maximum < self.default:
            raise ValueError(
                f"certificate TTLs: want 0 < default ({self.default}) <= maximum ({self.maximum})"
            )

    def lifetime(self, requested_seconds: int) -> timedelta:
        """Non-positive asks for the default (as istiod); more than the maximum is clamped."""
        if requested_seconds <= 0:
            return self.default
        return min(timedelta(seconds=requested_seconds), self.maximum)


@dataclass(frozen=True, slots=True, kw_only=True)
class SvidRequest:
    """A parsed, self-consistent CSR and the identity it asks for."""

    csr: x509.CertificateSigningRequest
    public_key: ec.EllipticCurvePublicKey
    identity: SpiffeId


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedSvid:
    certificate: x509.Certificate
    identity: SpiffeId
    # Leaf, then the CA certificates up to (not including) the root, then the trust bundle.
    chain: tuple[str, ...]

    @property
    def serial_hex(self) -> str:
        return f"{self.certificate.serial_number:x}"


def parse_csr(csr_pem: str) -> SvidRequest:
    """Check a CSR's form: PEM, signed by its key, ECDSA P-256, exactly one SPIFFE URI SAN."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidRequest(f"the CSR is not a PEM certificate request: {exc}") from exc
    if not csr.is_signature_valid:
        raise InvalidRequest("the CSR's signature does not match its public key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidRequest(
            f"the CSR's key is {_key_kind(key)}; this CA issues ECDSA P-256 keys only"
        )
    if key.curve.name != "secp256r1":
        raise InvalidRequest(
            f"the CSR's key is ECDSA on {key.curve.name}; this CA issues ECDSA P-256 keys only"
        )
    try:
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound as exc:
        raise InvalidRequest("the CSR has no subjectAltName; want one SPIFFE URI") from exc
    except ValueError as exc:
        raise InvalidRequest(f"the CSR's extensions are malformed: {exc}") from exc
    if len(sans) != 1 or not isinstance(sans[0], x509.UniformResourceIdentifier):
        shown = ", ".join(_san_text(s) for s in sans) or "none"
        raise InvalidRequest(
            f"the CSR must carry exactly one SAN, a SPIFFE URI; it carries {len(sans)}: {shown}"
        )
    uri = sans[0].value
    identity = parse_spiffe_id(uri)
    if identity is None:
        raise InvalidRequest(
            f"the CSR's URI SAN {uri!r} is not spiffe://<trust-domain>/ns/<namespace>/sa/<account>"
        )
    return SvidRequest(csr=csr, public_key=key, identity=identity)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """What every SVID of one CA material and trust bundle shares, computed once: the
    issuer, the authority key identifier, and the chain above the leaf."""

    material: CaMaterial
    authority_key_id: x509.AuthorityKeyIdentifier
    # The CA certificates above the leaf (none for a self-signed root), then the bundle.
    chain_tail: tuple[str, ...]
    # The bundle changes at this moment (a rotated-out root's overlap ends, a root expires).
    valid_until: datetime

    @staticmethod
    def of(material: CaMaterial, now: datetime) -> Signer:
        ends = [r.certificate.not_valid_after_utc for r in material.roots if r.trusted_at(now)]
        ends += [r.trusted_until for r in material.roots if r.trusted_until and r.trusted_at(now)]
        return Signer(
            material=material,
            authority_key_id=x509.AuthorityKeyIdentifier.from_issuer_public_key(
                material.key.public_key()
            ),
            chain_tail=(*ca_chain_pem(material), material.bundle_pem(now)),
            valid_until=min(ends, default=now),
        )

    def current_at(self, material: CaMaterial, now: datetime) -> bool:
        return self.material is material and now < self.valid_until


def sign_svid(
    request: SvidRequest, signer: Signer, lifetime: timedelta, now: datetime
) -> IssuedSvid:
    """Sign ``request`` with the CA's key; the certificate is valid from ``now`` for ``lifetime``
    (never beyond the signing certificate)."""
    material = signer.material
    issuer = material.certificate
    not_after = min(now + lifetime, issuer.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_EMPTY_NAME)
        .issuer_name(issuer.subject)
        .public_key(request.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(request.identity))]),
            critical=True,  # RFC 5280 4.2.1.6: the subject is empty
        )
        .add_extension(_NOT_A_CA, critical=True)
        .add_extension(_LEAF_KEY_USAGE, critical=True)
        .add_extension(_LEAF_EXTENDED_KEY_USAGE, critical=False)
        .add_extension(signer.authority_key_id, critical=False)
        .sign(material.key, hashes.SHA256())
    )
    return IssuedSvid(
        certificate=certificate,
        identity=request.identity,
        chain=(cert_pem(certificate), *signer.chain_tail),
    )


def ca_chain_pem(material: CaMaterial) -> tuple[str, ...]:
    """The CA certificates between an SVID and its root (empty for a self-signed root)."""
    if any(root.certificate == material.certificate for root in material.roots):
        return ()
    return tuple(cert_pem(c) for c in (material.certificate, *material.intermediates))


_EMPTY_NAME = x509.Name([])
_NOT_A_CA = x509.BasicConstraints(ca=False, path_length=None)
_LEAF_EXTENDED_KEY_USAGE = x509.ExtendedKeyUsage(
    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
)
_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=True,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _key_kind(key: object) -> str:
    name = type(key).__name__.removeprefix("_").replace("PublicKey", "")
    size = getattr(key, "key_size", None)
    return f"{name} {size}-bit" if size else name


def _san_text(name: x509.GeneralName) -> str:
    kinds = {
        x509.UniformResourceIdentifier: "URI",
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.RFC822Name: "email",
    }
    return f"{kinds.get(type(name), type(name).__name__)}:{name.value}"
