"""Who is on the other end of a gRPC stream that came through the TLS port (istiod's XDS_AUTH).

The TLS port (``tls_port``) terminates TLS in Python and relays the bytes to the plaintext gRPC
port, so the gRPC servicer cannot see the client certificate. The relay therefore records, for
each upstream connection it opens, the connection's local address (the ephemeral port the
gRPC server sees as the stream's peer) with the identities the client's verified certificate
carries; the servicer looks the stream's ``context.peer()`` up here. Both live in the control
plane process.

Why this cannot be spoofed by a plaintext client: an entry exists exactly while the relay holds
that TCP connection, it is added before the relay forwards a byte and removed before the socket
is closed, and no other socket can connect to the gRPC port from the same address and port
while the relay's connection is open (a TCP 4-tuple is unique). A client that dials the
plaintext port itself is therefore never found here: it has no identity, and the plaintext
port's rules apply.

The authorization rule is istiod's ``checkConnectionIdentity`` (``pilot/pkg/xds/auth.go``):
some identity must be a SPIFFE ID whose namespace is the proxy's namespace and, when the proxy
names a service account in its metadata, whose service account is that one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mainsail.ca.identity import SpiffeId, parse_spiffe_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayedPeer:
    """A connection relayed from the TLS port: its client's address and what its verified
    certificate says (all URI SANs; empty when the client presented no certificate)."""

    client: str
    identities: tuple[str, ...]


class IdentityMismatch(ValueError):
    """No identity of the certificate matches the proxy's namespace/service account."""


def _key(host: str, port: int) -> tuple[str, int]:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host, port
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed, port


def parse_grpc_peer(peer: str) -> tuple[str, int] | None:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` (gRPC's ``context.peer()``) -> the address;
    None for anything else (a Unix socket, an in-process channel)."""
    scheme, _, rest = peer.partition(":")
    if scheme not in ("ipv4", "ipv6"):
        return None
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.removeprefix("[").removesuffix("]")
    return _key(host, int(port))


class XdsPeers:
    """The relay's open upstream connections by local address. Mutated only on the event loop
    (the relay) and read there (the servicer), so no lock."""

    def __init__(self) -> None:
        self._by_address: dict[tuple[str, int], RelayedPeer] = {}

    def __len__(self) -> int:
        return len(self._by_address)

    def add(self, local: tuple[str, int], peer: RelayedPeer) -> None:
        key = _key(*local)
        if key in self._by_address:
            # Two open connections cannot share a local address: a stale entry is a bug, and
            # silently replacing it could lend one client's identity to another.
            raise RuntimeError(f"relayed connection {key[0]}:{key[1]} is already registered")
        self._by_address[key] = peer

    def remove(self, local: tuple[str, int]) -> None:
        self._by_address.pop(_key(*local), None)

    def relayed(self) -> tuple[RelayedPeer, ...]:
        """Every open relayed connection (for status and tests)."""
        return tuple(self._by_address.values())

    def lookup(self, grpc_peer: str) -> RelayedPeer | None:
        """The relayed connection a stream came on, or None when it did not come through the
        TLS port."""
        address = parse_grpc_peer(grpc_peer)
        return None if address is None else self._by_address.get(address)


def check_connection_identity(
    identities: tuple[str, ...], namespace: str, service_account: str
) -> SpiffeId:
    """The first identity that is a SPIFFE ID of ``namespace`` (and of ``service_account``
    unless it is empty), as istiod's ``checkConnectionIdentity``; else ``IdentityMismatch``
    with istiod's text."""
    for raw in identities:
        spiffe = parse_spiffe_id(raw)
        if spiffe is None:
            continue
        if namespace and spiffe.namespace != namespace:
            continue
        if service_account and spiffe.service_account != service_account:
            continue
        return spiffe
    # Go's %v of a []string: "[a b]".
    raise IdentityMismatch(
        f"no identities ([{' '.join(identities)}]) matched {namespace}/{service_account}"
    )
