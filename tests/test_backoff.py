from __future__ import annotations

from mainsail.platform import RestartBackoff


def test_doubles_up_to_the_cap() -> None:
    backoff = RestartBackoff()
    assert [backoff.delay_after_exit(0.1) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_resets_after_a_long_enough_run() -> None:
    backoff = RestartBackoff(reset_after=10)
    assert [backoff.delay_after_exit(1) for _ in range(3)] == [1, 2, 4]
    assert backoff.delay_after_exit(10) == 1
    assert backoff.delay_after_exit(9.9) == 2
