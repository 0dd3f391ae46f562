"""Asking the OS for a free TCP port on a given address."""

from __future__ import annotations

import socket


def free_port(host: str) -> int:
    """A TCP port nobody listens on at ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
