"""Errors of the local platform.

PlatformError
├── PodSpecError          a Deployment cannot become pods (no command, duplicate port, ...)
└── AddressPoolExhausted  no loopback address left in the pool
"""

from __future__ import annotations


class PlatformError(Exception):
    """Base of every error raised by ``mainsail.platform``."""


class PodSpecError(PlatformError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class AddressPoolExhausted(PlatformError):
    pass
