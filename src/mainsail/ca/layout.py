"""Where the mesh CA keeps its state: ``<home>/ca/``.

::

    <home>/ca/
      self-signed/ca-key.pem     the self-signed root's key (0600), when no CA is plugged in
      self-signed/ca-cert.pem    the self-signed root
      previous-roots.json        roots replaced by ``rotate-root``, trusted until their overlap ends
      cacerts/                   a plugged-in CA, Istio's ``cacerts`` names (optional; or any
                                 directory given in the settings): ca-cert.pem, ca-key.pem,
                                 root-cert.pem, cert-chain.pem
      token-signing-key.pem      the platform's pod-token key (ES256, 0600)
      issued.jsonl               one line per issued SVID: serial, identity, not-after
      revoked.json               the deny list: revoked ``<namespace>/<service account>``
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Istio's plugged-in CA file names (the ``cacerts`` secret).
CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
ROOT_CERT = "root-cert.pem"
CERT_CHAIN = "cert-chain.pem"


@dataclass(frozen=True, slots=True)
class CaLayout:
    root: Path

    @property
    def self_signed_dir(self) -> Path:
        return self.root / "self-signed"

    @property
    def previous_roots_file(self) -> Path:
        return self.root / "previous-roots.json"

    @property
    def default_cacerts_dir(self) -> Path:
        return self.root / "cacerts"

    @property
    def token_signing_key(self) -> Path:
        return self.root / "token-signing-key.pem"

    @property
    def issued_file(self) -> Path:
        return self.root / "issued.jsonl"

    @property
    def revoked_file(self) -> Path:
        return self.root / "revoked.json"


def write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically, readable by its owner only (created 0600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
