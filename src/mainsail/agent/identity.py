"""One pod's identity kept fresh: a new key and CSR, signed by the CA, renewed at about half its
life (istio-agent's ``SecretManagerClient``), announced to the pod's SDS server on every change.

While the CA cannot be reached or refuses, the current SVID keeps being served; the agent retries
with back-off and warns with the time left before expiry. Nothing is persisted: a restarted agent
makes a new key and asks again.

Time is injected (``clock`` gives epoch seconds, as certificates count; ``sleep`` waits), so the
schedule is tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from mainsail.agent.errors import CaUnreachable, CaUntrusted, CsrRefused, SvidError
from mainsail.agent.svid import (
    Svid,
    build_csr,
    describe,
    generate_key,
    renewal_time,
    svid_from_response,
)
from mainsail.agent.trust_bundle import TrustBundle
from mainsail.backoff import RestartBackoff

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class CertificateSigner(Protocol):
    """The CA as the agent sees it. Raises ``CaUnreachable`` or ``CsrRefused``."""

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        """The signed chain, leaf first, root(s) last."""
        ...


class WorkloadIdentity:
    def __init__(
        self,
        *,
        pod: str,
        spiffe_id: str,
        signer: CertificateSigner,
        token: Callable[[], str],
        ttl_s: int,
        retry_initial_s: float = 1.0,
        retry_cap_s: float = 30.0,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        bundle: TrustBundle | None = None,
    ) -> None:
        self.pod = pod
        self.spiffe_id = spiffe_id
        self._signer = signer
        self._token = token
        self._ttl_s = ttl_s
        self._retry = (retry_initial_s, retry_cap_s)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Shared by the node's pods (``trust_bundle``); a pod of its own when not given.
        self.bundle = bundle or TrustBundle()
        self._svid: Svid | None = None
        self._version = 0
        self._changed = asyncio.Event()
        self.renew_at: float | None = None
        self.failures = 0

    @property
    def svid(self) -> Svid | None:
        return self._svid

    @property
    def version(self) -> int:
        """Bumped on every new SVID; 0 until the first."""
        return self._version

    async def wait_newer(self, version: int) -> tuple[int, Svid]:
        """The SVID once its version is newer than ``version``."""
        while self._version <= version or self._svid is None:
            event = self._changed
            await event.wait()
        return self._version, self._svid

    async def renew(self) -> Svid:
        """One CSR round trip with a new key; the new SVID replaces the current one."""
        key = generate_key()
        csr = build_csr(key, self.spiffe_id)
        token = self._token()
        response = await self._signer.sign(csr, self._ttl_s, token)
        svid = svid_from_response(response, key=key, spiffe_id=self.spiffe_id)
        if self.bundle.update(svid.roots):
            log.info("%s: trust bundle now has %d root(s)", self.pod, len(svid.roots))
        self._svid = svid
        self._version += 1
        # Wake the waiters, then arm a fresh event for the next change.
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        return svid

    async def run(self) -> None:
        """Get an SVID, then keep renewing it; runs until cancelled."""
        backoff = self._new_backoff()
        while True:
            now = self._clock()
            if self.renew_at is not None and now < self.renew_at:
                await self._sleep(self.renew_at - now)
                continue
            try:
                svid = await self.renew()
            except SvidError as error:
                self.failures += 1
                delay = self._retry_delay(backoff)
                self._report(error, delay)
                await self._sleep(delay)
                continue
            except Exception:
                # A bug or a signer failing in a way it should have translated: keep retrying
                # (a dead renewal loop would let the certificate expire silently).
                self.failures += 1
                delay = self._retry_delay(backoff)
                log.exception(
                    "%s: certificate request failed unexpectedly; retrying in %gs", self.pod, delay
                )
                await self._sleep(delay)
                continue
            backoff = self._new_backoff()
            self.renew_at = renewal_time(svid, self._rng)
            log.info(
                "%s: new SVID %s; renewing in %.0fs",
                self.pod,
                describe(svid),
                self.renew_at - self._clock(),
            )

    def _retry_delay(self, backoff: RestartBackoff) -> float:
        """The back-off's next delay, but while the current certificate is valid never more
        than half its remaining life (nor less than the first delay): a CA that is back gets
        asked again before the certificate expires, however far the back-off has grown (with
        short-lived certificates a doubled delay could otherwise skip past the expiry)."""
        delay = backoff.delay_after_exit(0.0)
        if self._svid is not None:
            left = self._svid.remaining_s(self._clock())
            if left > 0:
                delay = min(delay, max(self._retry[0], left / 2))
        return delay

    def _new_backoff(self) -> RestartBackoff:
        initial, cap = self._retry
        return RestartBackoff(initial=initial, cap=cap, reset_after=float("inf"))

    def _report(self, error: SvidError, delay: float) -> None:
        """Say what failed, and what Envoy is left with: a refusal or an expired certificate is
        an error (someone must act), an unreachable CA a warning (it usually comes back)."""
        refused = isinstance(error, CsrRefused | CaUntrusted)
        kind = (
            "CSR refused by the CA"
            if isinstance(error, CsrRefused)
            else "CA not trusted"
            if isinstance(error, CaUntrusted)
            else "CA unreachable"
            if isinstance(error, CaUnreachable)
            else "certificate request failed"
        )
        current = self._svid
        if current is None:
            level = logging.ERROR if refused else logging.WARNING
            log.log(
                level,
                "%s: %s: %s; no certificate yet; retrying in %gs",
                self.pod,
                kind,
                error,
                delay,
            )
            return
        left = current.remaining_s(self._clock())
        if left <= 0:
            log.error(
                "%s: %s: %s; the current certificate (serial %x) EXPIRED %.0fs ago and is "
                "still served; retrying in %gs",
                self.pod,
                kind,
                error,
                current.serial,
                -left,
                delay,
            )
            return
        log.log(
            logging.ERROR if refused else logging.WARNING,
            "%s: %s: %s; keeping the current certificate (serial %x), which expires in "
            "%.0fs; retrying in %gs",
            self.pod,
            kind,
            error,
            current.serial,
            left,
            delay,
        )
