"""The per-type request/response exchange of one xDS stream: its states and transitions.

All transitions are in ``TRANSITIONS``; a (state, event) pair that is not there is a stale or
unexpected message and is ignored (e.g. an ACK when nothing is in flight).
"""

from __future__ import annotations

from enum import Enum
from typing import Final


class Exchange(Enum):
    IDLE = "idle"  # nothing sent yet
    WAITING = "waiting"  # a response is in flight
    ACKED = "acked"  # the last response was accepted
    NACKED = "nacked"  # the last response was rejected; the client keeps its previous config


class Event(Enum):
    SEND = "send"
    ACK = "ack"  # accepts the newest response in flight
    ACK_EARLIER = "ack-earlier"  # delta: accepts an older response, newer ones still in flight
    NACK = "nack"


TRANSITIONS: Final[dict[tuple[Exchange, Event], Exchange]] = {
    (Exchange.IDLE, Event.SEND): Exchange.WAITING,
    (Exchange.ACKED, Event.SEND): Exchange.WAITING,
    (Exchange.NACKED, Event.SEND): Exchange.WAITING,
    (Exchange.WAITING, Event.SEND): Exchange.WAITING,
    (Exchange.WAITING, Event.ACK): Exchange.ACKED,
    (Exchange.WAITING, Event.ACK_EARLIER): Exchange.WAITING,
    (Exchange.WAITING, Event.NACK): Exchange.NACKED,
}


def step(state: Exchange, event: Event) -> Exchange | None:
    """The next state, or None when the event does not apply (ignore the message)."""
    return TRANSITIONS.get((state, event))
