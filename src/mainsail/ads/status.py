"""What the control plane knows of each connected proxy's sync state (for CLI and dashboard).

Per xDS type, like ``istioctl proxy-status``:

* SYNCED: the proxy ACKed everything of the latest generation for this type;
* STALE: a response has waited for its ACK longer than a moment, or the proxy has not been
  sent the latest generation yet (a response in flight for less than the moment is still shown
  as SYNCED if the previous one was ACKed, so a routine push does not flicker);
* NACK: the last response of this type was rejected; ``error`` is Envoy's message;
* NOT_SENT: nothing of this type was sent on this stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mainsail import naming
from mainsail.ads.exchange import Exchange


class SyncState(StrEnum):
    SYNCED = "SYNCED"
    STALE = "STALE"
    NACK = "NACK"
    NOT_SENT = "NOT_SENT"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeStatus:
    type_url: str
    sent_version: str
    sent_nonce: str
    acked_version: str
    state: SyncState
    error: str = ""

    @property
    def short_name(self) -> str:
        return naming.SHORT_TYPE_NAMES.get(self.type_url, self.type_url.rsplit(".", 1)[-1])


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyStatus:
    proxy_id: str
    node_id: str
    connection_id: str
    mode: str  # "SotW" or "delta"
    connected_since: datetime
    generation: int  # the config generation this proxy was last pushed
    types: tuple[TypeStatus, ...]

    def of(self, type_url: str) -> TypeStatus | None:
        return next((t for t in self.types if t.type_url == type_url), None)

    @property
    def synced(self) -> bool:
        return all(t.state in (SyncState.SYNCED, SyncState.NOT_SENT) for t in self.types)


def sync_state(
    *,
    exchange: Exchange,
    in_sync: bool,
    behind_generation: bool,
    unsettled_for: float | None,
    acked_before: bool,
    moment: float,
) -> SyncState:
    if in_sync and not behind_generation and exchange is not Exchange.IDLE:
        return SyncState.SYNCED
    if exchange is Exchange.NACKED:
        return SyncState.NACK
    if exchange is Exchange.IDLE:
        return SyncState.NOT_SENT
    if behind_generation:
        return SyncState.STALE
    if acked_before and unsettled_for is not None and unsettled_for < moment:
        return SyncState.SYNCED
    return SyncState.STALE
