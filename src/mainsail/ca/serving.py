"""The control plane's own serving certificate for its TLS port (istiod's 15012), signed by the
mesh CA as istiod signs its own with ``PILOT_CERT_PROVIDER=istiod``. Pure given the CA material
and a clock value.

The DNS SANs are istiod's (``getDNSNames``: ``istiod``, ``istiod-remote`` and ``istio-pilot`` in
its namespace, ``.svc``), so a client verifying Istio's default ``ISTIOD_SAN``
(``istiod.istio-system.svc``) accepts it; the address the control plane binds is added as an IP
SAN, for clients that dial it by address and verify that instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mainsail.ca.authority import CaMaterial
from mainsail.ca.issuer import ca_chain_pem
from mainsail.ca.pki import cert_pem, key_pem, new_p256_key

# istiod's namespace and the SAN Istio's agents and sidecars verify by default (``ISTIOD_SAN``
# falls back to the discovery address's host, ``istiod.istio-system.svc``).
ISTIOD_NAMESPACE = "istio-system"
ISTIOD_SAN = f"istiod.{ISTIOD_NAMESPACE}.svc"
_KNOWN_HOSTS = ("istiod", "istiod-remote", "istio-pilot")

# Where Istio's agent reads the root it verifies istiod with (from the ``istio-ca-root-cert``
# ConfigMap), relative to the mesh's home here as to the proxy's working directory there.
ROOT_CERT_PATH = PurePosixPath("var/run/secrets/istio/root-cert.pem")

# A serving certificate is renewed once half its life is gone (the workloads' ratio).
RENEW_AT_RATIO = 0.5


def istiod_dns_names(namespace: str = ISTIOD_NAMESPACE) -> tuple[str, ...]:
    """istiod's DNS SANs, sorted as ``getDNSNames`` returns them."""
    return tuple(sorted(f"{host}.{namespace}.svc" for host in _KNOWN_HOSTS))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServingCertificate:
    key_pem: bytes
    # The leaf, then the CA certificates between it and its root (none for a self-signed root).
    chain_pem: bytes
    # Every root a client should accept now (the trust bundle at issue time).
    bundle_pem: str
    certificate: x509.Certificate
    # The CA material that signed it: a rotated root means a new certificate.
    material: CaMaterial

    @property
    def renew_at(self) -> datetime:
        cert = self.certificate
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_before_utc + life * RENEW_AT_RATIO


def serving_host_ips(host: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    """The bound address as an IP SAN; a wildcard bind (``0.0.0.0``, ``::``) names no address,
    so loopback stands in for local clients."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ()
    if address.is_unspecified:
        return (ipaddress.ip_address("127.0.0.1"),)
    return (address,)


def issue_serving_certificate(
    material: CaMaterial,
    *,
    dns_names: tuple[str, ...],
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...],
    lifetime: timedelta,
    now: datetime,
) -> ServingCertificate:
    """A new key and a server certificate for it, signed by the CA's signing certificate,
    valid from a minute ago (clock skew) for ``lifetime``, never beyond the issuer."""
    if lifetime <= timedelta(0):
        raise ValueError(f"serving certificate lifetime must be positive, got {lifetime}")
    if not dns_names and not ip_addresses:
        raise ValueError("a serving certificate needs at least one DNS or IP SAN")
    key = new_p256_key()
    issuer = material.certificate
    not_before = now - timedelta(minutes=1)
    not_after = min(now + lifetime, issuer.not_valid_after_utc)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(a) for a in ip_addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
            if dns_names
            else x509.Name([])
        )
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=not dns_names)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(material.key.public_key()),
            critical=False,
        )
        .sign(material.key, hashes.SHA256())
    )
    chain = cert_pem(certificate) + "".join(ca_chain_pem(material))
    return ServingCertificate(
        key_pem=key_pem(key),
        chain_pem=chain.encode("ascii"),
        bundle_pem=material.bundle_pem(now),
        certificate=certificate,
        material=material,
    )
