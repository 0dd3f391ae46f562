"""One connected xDS stream: its proxy, its session and the queue of responses to write."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime

from mainsail.ads.errors import AdsError
from mainsail.ads.session import Mode, Response, Session
from mainsail.snapshot.proxy import ProxyNode

_ids = itertools.count(1)

# What the writer side of a stream takes from the outbox: a response, an error ending the
# stream, or None when the client closed its side.
Outgoing = Response | AdsError | None


@dataclass(slots=True, kw_only=True)
class Connection:
    node: ProxyNode
    mode: Mode
    connected_since: datetime
    id: str = field(default_factory=lambda: f"conn-{next(_ids)}")
    session: Session = field(init=False)
    outbox: asyncio.Queue[Outgoing] = field(default_factory=asyncio.Queue)

    def __post_init__(self) -> None:
        self.session = Session(self.mode)

    def send(self, responses: list[Response]) -> None:
        for response in responses:
            self.outbox.put_nowait(response)
