"""A control plane's gRPC side as ``runtime.control_plane`` wires it, for tests: ADS and the CA
on a plaintext port, the TLS port (istiod's 15012) in front, one ``XdsPeers`` between them."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc

from mainsail.ads.server import AdsServer
from mainsail.ca.server import add_to_server
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import istiod_dns_names
from mainsail.ca.tls_port import SecureXdsPort
from mainsail.ca.xds_peers import XdsPeers
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.resources import ProxyConfig


@dataclass(slots=True)
class SecurePlane:
    """Not frozen: a test may put a new TLS port in front (a root rotation)."""

    authority: CertificateAuthority
    ads: AdsServer
    tls: SecureXdsPort
    plain: int  # the plaintext gRPC port (15010's role)

    @property
    def target(self) -> str:
        """The TLS port's address, for gRPC clients."""
        return f"127.0.0.1:{self.tls.port}"


@contextlib.asynccontextmanager
async def secure_plane(
    authority: CertificateAuthority,
    config_for: Callable[[ProxyNode], ProxyConfig],
    root_cert_file: Path,
) -> AsyncIterator[SecurePlane]:
    peers = XdsPeers()
    ads = AdsServer(config_for)
    server = grpc.aio.server()
    ads.add_to_server(server, peers)
    add_to_server(authority, server)
    plain = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    tls = SecureXdsPort(
        authority,
        host="127.0.0.1",
        port=0,
        upstream=("127.0.0.1", plain),
        root_cert_file=root_cert_file,
        dns_names=istiod_dns_names(),
        ip_addresses=(ipaddress.ip_address("127.0.0.1"),),
        lifetime=timedelta(hours=1),
        peers=peers,
    )
    await tls.start()
    try:
        yield SecurePlane(authority, ads, tls, plain)
    finally:
        await tls.close()
        await ads.close()
        await server.stop(grace=None)
