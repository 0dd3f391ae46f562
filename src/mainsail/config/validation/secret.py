"""core/v1 Secret rules: what the Kubernetes API server checks (base64 ``data``, the
``kubernetes.io/tls`` type's required keys) and what istiod would fail on when it serves the
Secret as a ``credentialName`` (a certificate that is not PEM, a key that does not sign for its
certificate): refused at apply time here, so a bad Secret never reaches a gateway."""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.kube.secret import (
    CA_KEYS,
    CERT_KEYS,
    PRIVATE_KEY_KEYS,
    TLS_CERT,
    TLS_KEY,
    TLS_SECRET_TYPE,
    Secret,
)
from mainsail.config.validation.rules import Findings


def validate_secret(secret: Secret) -> list[ConfigError]:
    f = Findings()
    data: dict[str, bytes] = {}
    paths: dict[str, str] = {}
    for key, value in secret.data.items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            f.add(f"data.{key}", f"value is not valid base64: {error}", ErrorCode.SECRET)
            continue
        paths[key] = f"data.{key}"
    for key, text in secret.string_data.items():
        data[key] = text.encode()
        paths[key] = f"stringData.{key}"
    if secret.type == TLS_SECRET_TYPE:
        for key in (TLS_CERT, TLS_KEY):
            if key not in data and f"data.{key}" not in {e.path for e in f.items}:
                f.add("data", f"a {TLS_SECRET_TYPE} Secret needs the key {key!r}", ErrorCode.SECRET)
    certs: dict[str, list[x509.Certificate]] = {}
    for key in (*CERT_KEYS, *CA_KEYS):
        if key in data:
            try:
                certs[key] = x509.load_pem_x509_certificates(data[key])
            except ValueError as error:
                f.add(paths[key], f"not a PEM certificate: {error}", ErrorCode.SECRET)
    keys: dict[str, PrivateKeyTypes] = {}
    for key in PRIVATE_KEY_KEYS:
        if key in data:
            try:
                keys[key] = serialization.load_pem_private_key(data[key], password=None)
            except (ValueError, TypeError) as error:
                f.add(paths[key], f"not an unencrypted PEM private key: {error}", ErrorCode.SECRET)
    for cert_key, key_name in zip(CERT_KEYS, PRIVATE_KEY_KEYS, strict=True):
        chain, private_key = certs.get(cert_key), keys.get(key_name)
        if chain and private_key is not None and not _same_public_key(chain[0], private_key):
            f.add(
                paths[key_name],
                f"the private key does not match the certificate in {cert_key!r} "
                f"(subject {chain[0].subject.rfc4514_string()!r})",
                ErrorCode.SECRET,
            )
    return f.items


def _same_public_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    encoding = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        cert.public_key().public_bytes(encoding, spki)
        == key.public_key().public_bytes(encoding, spki)
    )
