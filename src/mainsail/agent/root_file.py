"""The control plane's root file (``<home>/var/run/secrets/istio/root-cert.pem``, Istio's
``istio-ca-root-cert``) as a source of the node's trust bundle.

Why: with TLS to the control plane, Envoy verifies its ``xds-grpc`` connection with ``ROOTCA``.
After a root rotation the control plane's own certificate is signed by the new root at once,
while pods learn the new root only with their next renewal (up to half an SVID's life later);
an Envoy reconnecting in between would refuse the control plane. The control plane rewrites
the file on every change, so the agent reads it whenever it changes, as istio-agent watches the
root ConfigMap.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mainsail.agent.svid import split_pem

log = logging.getLogger(__name__)


class RootCertFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def changed_roots(self) -> tuple[str, ...] | None:
        """The file's roots when it changed since the last call (None otherwise, or when it
        is missing or holds no certificate: the bundle from the CA's answers stays)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            roots = split_pem(self.path.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("root certificate file %s unreadable: %s", self.path, exc)
            return None
        return roots or None
