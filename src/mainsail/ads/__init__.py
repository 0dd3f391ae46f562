"""The xDS server: sans-IO sessions, make-before-break staging, debounce, pushes, proxy status.

Modules: ``node`` (Envoy node → ProxyNode), ``exchange`` (per-type ACK/NACK transitions),
``session`` (one stream, SotW or delta; its per-type state in ``type_state``), ``staging``
(make before break), ``encoding`` (responses as bytes from cached per-resource encodings),
``debounce``, ``push_queue``, ``clock``, ``status``, ``connection``, ``servicer`` (gRPC edge),
``server`` (``AdsServer``), ``errors``.
"""

from mainsail.ads.clock import Clock, SystemClock
from mainsail.ads.errors import AdsError, InvalidNodeError, ProtocolViolation, SyncTimeoutError
from mainsail.ads.server import AdsServer, Generator
from mainsail.ads.session import Mode, Session
from mainsail.ads.status import ProxyStatus, SyncState, TypeStatus

__all__ = [
    "AdsError",
    "AdsServer",
    "Clock",
    "Generator",
    "InvalidNodeError",
    "Mode",
    "ProtocolViolation",
    "ProxyStatus",
    "Session",
    "SyncState",
    "SyncTimeoutError",
    "SystemClock",
    "TypeStatus",
]
