"""The mesh CA as a ``CertificateSigner``: ``mainsail.ca.client`` on the control plane's gRPC
address, its errors translated into the agent's (``CaUnreachable`` is retried, ``CsrRefused``
is logged as an error and retried too, in case the token or the policy changes).

Over TLS (the control plane's 15012) the root file is read for every request, so a root the
control plane rotated (and rewrote there) is trusted from the next renewal on; the server must
present a certificate for ``server_name`` (Istio's ``ISTIOD_SAN``).
"""

from __future__ import annotations

from pathlib import Path

from mainsail.agent.errors import CaUnreachable, CaUntrusted, CsrRefused
from mainsail.ca.client import request_certificate
from mainsail.ca.errors import CaRefused, CaUnavailable
from mainsail.ca.errors import CaUntrusted as ServerUntrusted


class CaSigner:
    def __init__(
        self,
        target: str,
        *,
        root_pem: str | None = None,
        root_file: Path | None = None,
        server_name: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self._root_pem = root_pem
        self._root_file = root_file
        self._server_name = server_name
        self._timeout = timeout

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        try:
            return await request_certificate(
                self.target,
                csr_pem,
                ttl_seconds,
                token,
                root_pem=self._root(),
                server_name=self._server_name,
                timeout=self._timeout,
            )
        except ServerUntrusted as error:
            raise CaUntrusted(f"{error} (roots from {self._root_source()})") from error
        except CaUnavailable as error:
            raise CaUnreachable(str(error)) from error
        except CaRefused as error:
            raise CsrRefused(f"CA at {self.target}: {error}") from error

    def _root(self) -> str | None:
        if self._root_file is None:
            return self._root_pem
        try:
            text = self._root_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise CaUnreachable(
                f"CA at {self.target}: cannot read the root certificate {self._root_file} to "
                f"verify it with: {exc}"
            ) from exc
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise CaUnreachable(
                f"CA at {self.target}: {self._root_file} holds no PEM certificate to verify it with"
            )
        return text

    def _root_source(self) -> str:
        return str(self._root_file) if self._root_file is not None else "the given root PEM"
