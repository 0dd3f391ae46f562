"""The renewal schedule and retries of one pod's SVID, on a fake clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator

import pytest

from mainsail.agent.identity import CertificateSigner, WorkloadIdentity
from mainsail.testing.clock import FakeClock, settle
from mainsail.testing.signer import InMemoryCa

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture
def ca(clock: FakeClock) -> InMemoryCa:
    return InMemoryCa(allowed={SPIFFE}, clock=clock.now)


def identity(
    ca: InMemoryCa,
    clock: FakeClock,
    spiffe_id: str = SPIFFE,
    signer: CertificateSigner | None = None,
) -> WorkloadIdentity:
    return WorkloadIdentity(
        pod="shop.web-0",
        spiffe_id=spiffe_id,
        signer=signer or ca,
        token=lambda: "the-token",
        ttl_s=100,
        retry_initial_s=1.0,
        retry_cap_s=8.0,
        clock=clock.now,
        sleep=clock.sleep,
        rng=random.Random(7),
    )


@contextlib.asynccontextmanager
async def running(ident: WorkloadIdentity) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(ident.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def first_svid(ident: WorkloadIdentity) -> None:
    await asyncio.wait_for(ident.wait_newer(0), 10)
    await settle()


async def test_renews_at_half_life_with_a_new_key(ca: InMemoryCa, clock: FakeClock) -> None:
    ident = identity(ca, clock)
    async with running(ident):
        await first_svid(ident)
        first = ident.svid
        assert first is not None and ca.tokens == ["the-token"]
        assert ident.renew_at is not None
        delay = ident.renew_at - clock.now()
        assert 48 <= delay <= 52  # half of 100 s, ±1 % jitter, minus the instant it took
        await clock.advance(delay - 1)
        assert ident.version == 1  # not yet
        await clock.advance(2)
        await asyncio.wait_for(ident.wait_newer(1), 10)
        second = ident.svid
        assert second is not None
        assert second.serial != first.serial
        assert second.key != first.key  # a fresh key per CSR, as istio-agent
        assert ca.calls == 2


async def test_ca_unreachable_keeps_the_current_svid_and_retries_with_backoff(
    ca: InMemoryCa, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mainsail.agent.identity")
    ident = identity(ca, clock)
    async with running(ident):
        await first_svid(ident)
        first = ident.svid
        assert first is not None and ident.renew_at is not None
        ca.unreachable = True
        await clock.advance(ident.renew_at - clock.now() + 0.01)
        calls = [ca.calls]
        for _ in range(4):
            await clock.advance(8)
            calls.append(ca.calls)
        # Back-off 1, 2, 4, 8, 8 s: fewer attempts per 8 s window as it grows.
        assert calls[1] - calls[0] >= 2 and calls[-1] - calls[-2] == 1
        assert ident.svid is first and ident.version == 1
        assert ident.failures >= 5
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(
            "CA unreachable" in m and f"serial {first.serial:x}" in m and "expires in" in m
            for m in warnings
        ), warnings
        ca.unreachable = False
        await clock.advance(8)
        await asyncio.wait_for(ident.wait_newer(1), 10)
        assert ident.svid is not None and ident.svid.serial != first.serial
        assert ident.renew_at is not None and ident.renew_at - clock.now() > 40


async def test_expired_certificate_is_an_error_but_still_served(
    ca: InMemoryCa, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ident = identity(ca, clock)
    async with running(ident):
        await first_svid(ident)
        ca.unreachable = True
        await clock.advance(120)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("EXPIRED" in m and "still served" in m for m in errors), errors
        assert ident.svid is not None


async def test_refused_csr_is_an_error_in_the_log(
    ca: InMemoryCa, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ident = identity(ca, clock, "spiffe://cluster.local/ns/shop/sa/admin")
    async with running(ident):
        await clock.advance(0.1)
        assert ident.svid is None
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any(
            "CSR refused by the CA" in m and "PERMISSION_DENIED" in m and "shop.web-0" in m
            for m in errors
        ), errors


class FlakySigner:
    """Fails the way a buggy signer would (not an SvidError) once, then signs."""

    def __init__(self, ca: InMemoryCa) -> None:
        self.ca = ca
        self.calls = 0

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("unexpected")
        return await self.ca.sign(csr_pem, ttl_seconds, token)


async def test_an_unexpected_failure_does_not_end_the_renewal_loop(
    ca: InMemoryCa, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ident = identity(ca, clock, signer=FlakySigner(ca))
    async with running(ident) as task:
        await clock.advance(0.1)
        assert ident.svid is None and not task.done()
        await clock.advance(1.0)
        await asyncio.wait_for(ident.wait_newer(0), 10)
    assert any("failed unexpectedly" in r.getMessage() for r in caplog.records)


class RecordingSigner:
    """The CA, noting when (on the fake clock) each request was made."""

    def __init__(self, ca: InMemoryCa, clock: FakeClock) -> None:
        self.ca = ca
        self.clock = clock
        self.times: list[float] = []

    async def sign(self, csr_pem: str, ttl_seconds: int, token: str) -> tuple[str, ...]:
        self.times.append(self.clock.now())
        return await self.ca.sign(csr_pem, ttl_seconds, token)


async def test_back_off_never_sleeps_past_half_the_remaining_life(
    ca: InMemoryCa, clock: FakeClock
) -> None:
    """30 s certificates, renewal due at 15 s left: the back-off's 1, 2, 4 s steps bring the
    next try to 8 s before expiry, and its 8 s step would land on the expiry itself. Capped at
    half the time left, a CA that is back after the 4 s step is asked while the certificate is
    still valid."""
    signer = RecordingSigner(ca, clock)
    ident = WorkloadIdentity(
        pod="shop.web-0",
        spiffe_id=SPIFFE,
        signer=signer,
        token=lambda: "the-token",
        ttl_s=30,
        retry_initial_s=1.0,
        retry_cap_s=30.0,
        clock=clock.now,
        sleep=clock.sleep,
        rng=random.Random(7),
    )
    async with running(ident):
        await first_svid(ident)
        first = ident.svid
        assert first is not None and ident.renew_at is not None
        ca.unreachable = True
        await clock.advance(ident.renew_at - clock.now() + 0.01)
        await clock.advance(7.5)  # tries at +0, +1, +3, +7: all fail
        assert len(signer.times) == 5
        ca.unreachable = False
        await clock.advance(first.remaining_s(clock.now()) - 0.5)
        assert ident.version == 2, signer.times
        assert ident.svid is not None and ident.svid.serial != first.serial
        expiry = first.not_after.timestamp()
        for before, after in zip(signer.times[1:], signer.times[2:], strict=False):
            assert after - before <= max(1.0, (expiry - before) / 2) + 0.02
