from __future__ import annotations

import pytest

from mainsail.ads.debounce import Debouncer, due_at
from mainsail.testing.clock import FakeClock, settle


def test_due_at_is_quiet_period_capped_by_max() -> None:
    assert due_at(first=0.0, last=0.05, after=0.1, max_delay=10.0) == pytest.approx(0.15)
    assert due_at(first=0.0, last=9.95, after=0.1, max_delay=10.0) == 10.0


async def test_fires_after_quiet_period() -> None:
    clock, fired = FakeClock(), []

    async def fire() -> None:
        fired.append(clock.now())

    debouncer = Debouncer(clock, fire, after=0.1, max_delay=10.0)
    debouncer.trigger()
    await clock.advance(0.05)
    debouncer.trigger()  # restarts the quiet period
    await clock.advance(0.09)
    assert fired == []
    await clock.advance(0.01)
    assert fired == [pytest.approx(0.15)]
    assert not debouncer.pending and clock.sleepers == 0


async def test_busy_stream_of_changes_fires_at_max_delay() -> None:
    clock, fired = FakeClock(), []

    async def fire() -> None:
        fired.append(clock.now())

    debouncer = Debouncer(clock, fire, after=0.1, max_delay=1.0)
    for _ in range(30):  # a change every 50 ms never leaves 100 ms of quiet
        debouncer.trigger()
        await clock.advance(0.05)
    assert fired[0] == pytest.approx(1.0)


async def test_changes_during_a_fire_are_debounced_again() -> None:
    clock, fired = FakeClock(), []
    debouncer: Debouncer

    async def fire() -> None:
        fired.append(clock.now())
        if len(fired) == 1:
            debouncer.trigger()

    debouncer = Debouncer(clock, fire, after=0.1, max_delay=10.0)
    debouncer.trigger()
    await clock.advance(0.1)
    assert len(fired) == 1
    await clock.advance(0.1)
    assert fired == [pytest.approx(0.1), pytest.approx(0.2)]


async def test_discard_and_close() -> None:
    clock, fired = FakeClock(), []

    async def fire() -> None:
        fired.append(clock.now())

    debouncer = Debouncer(clock, fire)
    debouncer.trigger()
    debouncer.discard()
    await clock.advance(1.0)
    assert fired == []
    debouncer.trigger()
    await debouncer.close()
    await clock.advance(1.0)
    await settle()
    assert fired == []


def test_rejects_bad_settings() -> None:
    async def fire() -> None:
        return None

    with pytest.raises(ValueError):
        Debouncer(FakeClock(), fire, after=1.0, max_delay=0.5)
