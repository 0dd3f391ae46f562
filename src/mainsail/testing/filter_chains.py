"""Envoy's filter-chain selection for a listener, as the traffic simulator follows it.

Most specific wins at each step: destination port, destination IP (longest ``prefix_ranges``),
SNI (exact, then longest wildcard), transport protocol, application protocols; else the
``default_filter_chain``. Source matches are not simulated.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Literal

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2

from mainsail.testing.route_matching import SimulationError


def _prefix_length(match: listener_components_pb2.FilterChainMatch, ip: str) -> int | None:
    """The longest of the chain's ``prefix_ranges`` holding ``ip``; None if none does."""
    best: int | None = None
    for cidr in match.prefix_ranges:
        length = cidr.prefix_len.value if cidr.HasField("prefix_len") else 32
        network = ipaddress.ip_network(f"{cidr.address_prefix}/{length}", strict=False)
        if ip and ipaddress.ip_address(ip) in network and (best is None or length > best):
            best = length
    return best


def _server_name_score(names: list[str], sni: str) -> int | None:
    best: int | None = None
    for name in names:
        if name == sni:
            return 10_000
        if name.startswith("*.") and sni.endswith(name[1:]):
            best = max(best or 0, len(name))
    return best


_Score = int | None | Literal["unset"]
_Step = Callable[[listener_components_pb2.FilterChainMatch], _Score]


def _narrow(
    chains: list[listener_components_pb2.FilterChain], step: _Step
) -> list[listener_components_pb2.FilterChain]:
    """One step of Envoy's chain selection: the chains whose criterion matches best, else those
    that leave the criterion unset."""
    scored = [(step(c.filter_chain_match), c) for c in chains]
    matching = [(s, c) for s, c in scored if isinstance(s, int)]
    if matching:
        best = max(s for s, _ in matching)
        return [c for s, c in matching if s == best]
    return [c for s, c in scored if s == "unset"]


def select_chain(
    listener: listener_pb2.Listener,
    *,
    destination: tuple[str, int] | None,
    server_name: str,
    transport_protocol: str,
    application_protocols: tuple[str, ...] | list[str],
) -> listener_components_pb2.FilterChain | None:
    """The filter chain Envoy picks for a connection to ``destination`` (the listener's own
    address when None); None when no chain matches and there is no default chain."""
    ip, port = destination if destination is not None else ("", 0)
    if not ip:
        socket = listener.address.socket_address
        ip, port = socket.address, socket.port_value

    def source_free(match: listener_components_pb2.FilterChainMatch) -> bool:
        return not (
            match.direct_source_prefix_ranges
            or match.source_prefix_ranges
            or match.source_ports
            or match.source_type
        )

    chains = list(listener.filter_chains)
    if not all(source_free(c.filter_chain_match) for c in chains):
        raise SimulationError(f"listener {listener.name}: source matches are not simulated")
    steps: list[_Step] = [
        lambda m: "unset" if not m.HasField("destination_port") else (
            1 if m.destination_port.value == port else None
        ),
        lambda m: "unset" if not m.prefix_ranges else _prefix_length(m, ip),
        lambda m: "unset" if not m.server_names else _server_name_score(
            list(m.server_names), server_name
        ),
        lambda m: "unset" if not m.transport_protocol else (
            1 if m.transport_protocol == transport_protocol else None
        ),
        lambda m: "unset" if not m.application_protocols else (
            1 if set(m.application_protocols) & set(application_protocols) else None
        ),
    ]  # fmt: skip
    for step in steps:
        chains = _narrow(chains, step)
        if not chains:
            break
    if chains:
        return chains[0]
    return listener.default_filter_chain if listener.HasField("default_filter_chain") else None
