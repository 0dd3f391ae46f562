"""Errors of the ADS server, and the one place they map to gRPC status codes.

Tree::

    AdsError                 expected errors; each carries the gRPC status a client sees
    ├── InvalidNodeError     INVALID_ARGUMENT: the Envoy node (id or metadata) is unusable; names the field
    └── ProtocolViolation    INVALID_ARGUMENT: the client broke the xDS protocol (e.g. no type_url)
    SyncTimeoutError         wait_synced gave up (a TimeoutError; never sent to a client)

Anything else raised inside the server is a bug and reaches the client as UNKNOWN.
"""

from __future__ import annotations

import grpc


class AdsError(Exception):
    """An expected error that ends one xDS stream."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidNodeError(AdsError):
    status = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProtocolViolation(AdsError):
    status = grpc.StatusCode.INVALID_ARGUMENT


class SyncTimeoutError(TimeoutError):
    """Raised by ``AdsServer.wait_synced``; the message lists the proxies still behind."""

    def __init__(self, waiting_for: tuple[str, ...], timeout: float) -> None:
        names = ", ".join(waiting_for) or "(no proxy connected)"
        super().__init__(f"not synced after {timeout:g}s: {names}")
        self.waiting_for = waiting_for


def grpc_status(error: AdsError) -> grpc.StatusCode:
    return error.status
