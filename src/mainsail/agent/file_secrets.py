"""Secrets read from files, as istio-agent serves them for a DestinationRule's ``tls`` files:
``file-cert:<certificate>~<private key>`` (a ``tls_certificate``) and ``file-root:<bundle>``
(a ``validation_context``; ``file-root:system`` is the OS trust store).

Files are read again when their size or mtime changes, so a replaced certificate is pushed like a
renewed SVID. On the local platform pods share the host's filesystem and user, so a path means
the same file for the agent and for the workload that named it.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from pathlib import Path

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.agent.errors import SdsError
from mainsail.agent.sds_stream import PackedSecret

log = logging.getLogger(__name__)

SYSTEM_ROOTS = "system"
# Where distributions keep the OS trust bundle, for ``file-root:system`` (as istio-agent looks).
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)

_Stamp = tuple[tuple[str, int, int], ...]


def system_bundle() -> Path:
    candidates = [ssl.get_default_verify_paths().cafile, *_SYSTEM_BUNDLES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SdsError(
        f"file-root:system: no OS trust bundle found (looked at {', '.join(_SYSTEM_BUNDLES)})"
    )


class FileSecrets:
    """Packed file secrets by name, re-read when a file changes."""

    def __init__(self, pod: str) -> None:
        self._pod = pod
        self._cache: dict[str, tuple[_Stamp, PackedSecret]] = {}
        self._failed: dict[str, str] = {}

    def get(self, name: str) -> PackedSecret | None:
        """The secret, or None (logged once per distinct problem) when its files cannot be read."""
        try:
            paths = self._paths(name)
            stamp = tuple(_stamp(p) for p in paths)
            cached = self._cache.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            secret = _build(name, paths)
        except SdsError as error:
            message = str(error)
            if self._failed.get(name) != message:
                self._failed[name] = message
                log.warning("sds: %s: secret %r: %s", self._pod, name, message)
            return None
        self._failed.pop(name, None)
        self._cache[name] = (stamp, secret)
        return secret

    def _paths(self, name: str) -> tuple[Path, ...]:
        pair = naming.parse_file_cert_secret(name)
        if pair is not None:
            return (Path(pair[0]), Path(pair[1]))
        root = naming.parse_file_root_secret(name)
        if root is None:
            raise SdsError(f"not a file secret name: {name!r}")
        return (system_bundle() if root == SYSTEM_ROOTS else Path(root),)


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError as error:
        raise SdsError(f"cannot read {path}: {error.strerror or error}") from error
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SdsError(f"cannot read {path}: {error.strerror or error}") from error


def _build(name: str, paths: tuple[Path, ...]) -> PackedSecret:
    contents = [_read(p) for p in paths]
    if b"-----BEGIN" not in contents[0]:
        raise SdsError(f"{paths[0]} holds no PEM certificate")
    if len(paths) == 2:
        secret = secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_bytes=contents[0]),
                private_key=base_pb2.DataSource(inline_bytes=contents[1]),
            ),
        )
    else:
        secret = secret_pb2.Secret(
            name=name,
            validation_context=common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(inline_bytes=contents[0])
            ),
        )
    packed = any_pb2.Any()
    packed.Pack(secret)
    version = hashlib.sha256(b"\0".join(contents)).hexdigest()[:16]
    return PackedSecret(name, version, packed)
