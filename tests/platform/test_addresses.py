from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from mainsail.platform import AddressPool, AddressPoolExhausted, PodAllocations
from mainsail.testing.loopback import random_loopback_network


def test_pool_skips_addresses_ending_in_0_and_255() -> None:
    pool = AddressPool("127.77.0.0/23")
    taken = {str(h) for h in ipaddress.IPv4Network("127.77.0.0/24").hosts()} - {"127.77.0.255"}
    # .255 of the first /24 and .0 of the second are skipped: next is 127.77.1.1.
    assert pool.first_free(taken) == "127.77.1.1"


def test_pool_must_be_loopback() -> None:
    with pytest.raises(ValueError):
        AddressPool("10.0.0.0/24")


def test_pool_exhaustion() -> None:
    pool = AddressPool("127.77.0.0/30")
    with pytest.raises(AddressPoolExhausted):
        pool.first_free({"127.77.0.1", "127.77.0.2"})


def test_allocations_are_deterministic_and_persisted(tmp_path: Path) -> None:
    network = random_loopback_network(24)
    path = tmp_path / "allocations.json"
    first = PodAllocations(path, AddressPool(network))
    a = first.address("ns.a")
    b = first.address("ns.b")
    assert a != b
    assert ipaddress.IPv4Address(a) in ipaddress.IPv4Network(network)
    assert first.address("ns.a") == a
    port = first.app_port("ns.a", 9080)

    again = PodAllocations(path, AddressPool(network))  # a restarted platform
    assert again.address("ns.b") == b
    assert again.address("ns.a") == a
    assert again.app_port("ns.a", 9080) == port
    assert again.snapshot() == {"ns.a": a, "ns.b": b}

    again.release("ns.a")
    assert again.address("ns.c") == a  # freed addresses are reused, lowest first


def test_app_port_is_free_on_the_pod_address(tmp_path: Path) -> None:
    import socket

    allocations = PodAllocations(tmp_path / "a.json", AddressPool(random_loopback_network(24)))
    ip = allocations.address("ns.a")
    port = allocations.app_port("ns.a", 9080)
    with socket.socket() as sock:
        sock.bind((ip, port))
