"""Per-test loopback addresses and OS-chosen ports, so tests never collide on a shared host."""

from __future__ import annotations

import random
import socket


def random_loopback_address(rng: random.Random | None = None) -> str:
    """An address like ``127.83.17.201``: outside 127.0.0.0/16 and the default pod pool."""
    r = rng or random.SystemRandom()
    while True:
        second = r.randint(1, 254)
        if second != 128:  # 127.128.0.0/16 is the local platform's default pod pool
            return f"127.{second}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def random_loopback_network(prefix: int = 24, rng: random.Random | None = None) -> str:
    """A random loopback network such as ``127.61.204.0/24`` for an address pool under test."""
    if not 16 <= prefix <= 30:
        raise ValueError("prefix must be between 16 and 30")
    address = random_loopback_address(rng)
    octets = [int(o) for o in address.split(".")]
    value = int.from_bytes(bytes(octets), "big") & ~((1 << (32 - prefix)) - 1)
    return f"{'.'.join(str(b) for b in value.to_bytes(4, 'big'))}/{prefix}"


def free_tcp_ports(host: str, count: int) -> tuple[int, ...]:
    """``count`` distinct free ports on ``host`` (each held open until all are chosen, so
    they differ; ``mainsail.testing.ports.free_port`` picks one)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return tuple(int(sock.getsockname()[1]) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
