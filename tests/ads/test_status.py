from __future__ import annotations

import pytest

from mainsail.ads.exchange import Event, Exchange, step
from mainsail.ads.status import SyncState, sync_state


def state(**overrides: object) -> SyncState:
    args: dict[str, object] = {
        "exchange": Exchange.ACKED,
        "in_sync": True,
        "behind_generation": False,
        "unsettled_for": None,
        "acked_before": True,
        "moment": 1.0,
    }
    args.update(overrides)
    return sync_state(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, SyncState.SYNCED),
        ({"exchange": Exchange.NACKED, "in_sync": False}, SyncState.NACK),
        ({"exchange": Exchange.IDLE, "in_sync": False}, SyncState.NOT_SENT),
        ({"behind_generation": True}, SyncState.STALE),
        ({"exchange": Exchange.WAITING, "in_sync": False, "unsettled_for": 0.2}, SyncState.SYNCED),
        ({"exchange": Exchange.WAITING, "in_sync": False, "unsettled_for": 1.5}, SyncState.STALE),
        (
            {
                "exchange": Exchange.WAITING,
                "in_sync": False,
                "unsettled_for": 0.2,
                "acked_before": False,
            },
            SyncState.STALE,
        ),
    ],
)
def test_sync_state(overrides: dict[str, object], expected: SyncState) -> None:
    assert state(**overrides) is expected


def test_exchange_table() -> None:
    assert step(Exchange.IDLE, Event.SEND) is Exchange.WAITING
    assert step(Exchange.WAITING, Event.ACK) is Exchange.ACKED
    assert step(Exchange.WAITING, Event.NACK) is Exchange.NACKED
    assert step(Exchange.NACKED, Event.SEND) is Exchange.WAITING
    assert step(Exchange.ACKED, Event.ACK) is None  # stale: ignored
    assert step(Exchange.IDLE, Event.NACK) is None
