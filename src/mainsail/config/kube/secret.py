"""core/v1 Secret, and the TLS credential a Gateway or DestinationRule ``credentialName`` reads.

istiod reads the Secret named by ``credentialName`` in the proxy's namespace
(``pilot/pkg/credentials/kube/secrets.go``): the generic keys ``cert``/``key`` win over the
``kubernetes.io/tls`` keys ``tls.crt``/``tls.key``; the CA is ``cacert``, else ``ca.crt``. The
Secret's ``type`` is not consulted for that, only the keys. ``data`` is base64 (as Kubernetes
stores it); ``stringData`` is plain text and wins over ``data`` for the same key (the API
server merges it on write).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from mainsail.config.base import Resource

TLS_SECRET_TYPE = "kubernetes.io/tls"
OPAQUE_SECRET_TYPE = "Opaque"
# istiod's key names (``GenericScrt*`` and ``TLSSecret*``), in the order it tries them.
GENERIC_CERT, GENERIC_KEY, GENERIC_CA = "cert", "key", "cacert"
TLS_CERT, TLS_KEY, TLS_CA = "tls.crt", "tls.key", "ca.crt"
CERT_KEYS = (GENERIC_CERT, TLS_CERT)
PRIVATE_KEY_KEYS = (GENERIC_KEY, TLS_KEY)
CA_KEYS = (GENERIC_CA, TLS_CA)
# A ``credentialName`` with this suffix names only a CA (istiod's ``SdsCaSuffix``).
CA_SUFFIX = "-cacert"


class Secret(Resource):
    type: str = OPAQUE_SECRET_TYPE
    data: Mapping[str, str] = Field(default_factory=dict)
    string_data: Mapping[str, str] = Field(default_factory=dict)
    immutable: bool | None = None

    def decoded(self) -> dict[str, bytes]:
        """Every key's bytes; a ``data`` value that is not base64 is left out (validation
        refuses such a Secret, so only a hand-built object gets here with one)."""
        found: dict[str, bytes] = {}
        for key, value in self.data.items():
            try:
                found[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
        for key, text in self.string_data.items():
            found[key] = text.encode()
        return found

    def redacted_wire(self) -> dict[str, Any]:
        """The document with every value replaced by its size: what ``mainsail get`` shows
        (key material never leaves the control plane through its listing API)."""
        wire = self.to_wire()
        sizes = {key: len(value) for key, value in self.decoded().items()}
        wire.pop("stringData", None)
        if sizes:
            wire["data"] = {key: f"<{size} bytes>" for key, size in sorted(sizes.items())}
        return wire


@dataclass(frozen=True, slots=True)
class TlsCredential:
    """What istiod extracts from one Secret: a certificate chain and its key, and/or CA roots."""

    cert_chain: bytes | None = None
    private_key: bytes | None = None
    ca: bytes | None = None

    @property
    def has_pair(self) -> bool:
        return self.cert_chain is not None and self.private_key is not None


def credential_of(secret: Secret) -> TlsCredential:
    """istiod's ``extractCertInfo`` and ``extractRoot`` over one Secret's keys."""
    data = secret.decoded()
    cert = key = None
    for cert_key, private_key in zip(CERT_KEYS, PRIVATE_KEY_KEYS, strict=True):
        if data.get(cert_key) and data.get(private_key):
            cert, key = data[cert_key], data[private_key]
            break
    ca = next((data[k] for k in CA_KEYS if data.get(k)), None)
    return TlsCredential(cert_chain=cert, private_key=key, ca=ca)
