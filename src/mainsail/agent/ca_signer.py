"""The mesh CA as a ``CertificateSigner``: ``mainsail.ca.client`` on the control plane's gRPC
address, its errors translated into the agent's (``CaUnreachable`` is retried, ``CsrRefused``
is logged as an error and retried too, in case the token or the policy changes)."""

from __future__ import annotations

from mainsail.agent.errors import CaUnreachable, CsrRefused
from mainsail.ca.client import request_certificate
from mainsail.ca.errors import CaRefused, CaUnavailable


class CaSigner:
    def __init__(self, target: str, *, root_pem: str | None = None, timeout: float = 10.0) -> None:
        self.target = target
        self._root_pem = root_pem
        self._timeout = timeout

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        try:
            return await request_certificate(
                self.target,
                csr_pem,
                ttl_seconds,
                token,
                root_pem=self._root_pem,
                timeout=self._timeout,
            )
        except CaUnavailable as error:
            raise CaUnreachable(str(error)) from error
        except CaRefused as error:
            raise CsrRefused(f"CA at {self.target}: {error}") from error
