"""The control plane's TLS port (istiod's 15012): the same gRPC services as the plaintext xDS
port (ADS and the CSR API), behind TLS with a certificate the mesh CA signs for the control
plane itself.

Why TLS is terminated here and not by gRPC: istiod asks clients for a certificate and verifies
it *if given* (Go's ``VerifyClientCertIfGiven``): sidecars present their SVID, while a node agent
asking for its first SVID has none and authenticates with its token. gRPC Python offers only
"no client certificate" or "require one", so each connection's TLS is done with ``ssl``
(``CERT_OPTIONAL`` against the trust bundle, ALPN ``h2``) and its bytes are relayed to the
plaintext gRPC port on the same host. Every new connection gets the current certificate and
trust bundle, so renewals and root rotations need no restart and leave open streams alone.

Each relayed connection is registered in ``XdsPeers`` (``xds_peers``) with its client's
verified certificate identities, so the ADS servicer can authenticate the stream as istiod's
``XDS_AUTH`` does; the CSR API authenticates with the pod's token and ignores it.

The root that verifies this port (the trust bundle) is written to ``root_cert_file``
(``<home>/var/run/secrets/istio/root-cert.pem``, where Istio's agent reads it) and rewritten
whenever it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from mainsail.ca.layout import write_private, write_public
from mainsail.ca.pki import describe
from mainsail.ca.service import CertificateAuthority, utc_now
from mainsail.ca.serving import ServingCertificate, issue_serving_certificate
from mainsail.ca.xds_peers import RelayedPeer, XdsPeers

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_HANDSHAKE_TIMEOUT_S = 10.0


class SecureXdsPort:
    def __init__(
        self,
        authority: CertificateAuthority,
        *,
        host: str,
        port: int,
        upstream: tuple[str, int],
        root_cert_file: Path,
        dns_names: tuple[str, ...],
        ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = (),
        lifetime: timedelta = timedelta(hours=24),
        check_interval_s: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
        peers: XdsPeers | None = None,
    ) -> None:
        self._authority = authority
        self._host = host
        self._port = port
        # A wildcard bind is reached on loopback.
        self._upstream = (_loopback_for(upstream[0]), upstream[1])
        self.root_cert_file = root_cert_file
        self._dns_names = dns_names
        self._ips = ip_addresses
        self._lifetime = lifetime
        self._check_interval_s = check_interval_s
        self._clock = clock
        # Shared with the ADS servicer: relayed connection -> the client's verified identities.
        self.peers = peers if peers is not None else XdsPeers()
        self._key_dir = authority.layout.root / "istiod"
        self._serving: ServingCertificate | None = None
        self._context: ssl.SSLContext | None = None
        self._server: asyncio.Server | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._open: set[asyncio.StreamWriter] = set()
        self._closed = False
        # What clients presented: SPIFFE ID (or "" for no certificate) -> connections.
        self.client_identities: Counter[str] = Counter()
        # A rotated root: a new certificate and root file before the next client connects.
        authority.on_material_change(self._refresh_logged)

    @property
    def serving(self) -> ServingCertificate:
        if self._serving is None:
            self.refresh()
        assert self._serving is not None
        return self._serving

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the TLS port is not listening; start() first")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> int:
        self.refresh()
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, limit=_CHUNK
        )
        self._refresher = asyncio.create_task(self._refresh_loop(), name="istiod cert")
        return self.port

    async def close(self) -> None:
        self._closed = True
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._server is not None:
            self._server.close()
        # Abort rather than close: a TLS close waits up to 30 s for the peer's close_notify.
        for writer in list(self._open):
            writer.transport.abort()
        for task in list(self._relays):
            task.cancel()
        if self._relays:
            await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def refresh(self) -> bool:
        """Issue a new serving certificate when none exists, half its life is gone, the CA's
        material changed (a rotated or replaced root) or the trust bundle changed (a rotated-out
        root's overlap ended); write the bundle for the agents. True when it issued one."""
        now = self._clock()
        material = self._authority.material
        current = self._serving
        if (
            current is not None
            and current.material is material
            and now < current.renew_at
            and current.bundle_pem == material.bundle_pem(now)
        ):
            return False
        serving = issue_serving_certificate(
            material,
            dns_names=self._dns_names,
            ip_addresses=self._ips,
            lifetime=self._lifetime,
            now=now,
        )
        self._context = self._tls_context(serving)
        self._serving = serving
        write_public(self.root_cert_file, serving.bundle_pem.encode("ascii"))
        log.info(
            "control plane TLS certificate %s issued by %s, valid until %s (renewed at %s)",
            f"{serving.certificate.serial_number:x}",
            describe(material.certificate),
            serving.certificate.not_valid_after_utc.isoformat(),
            serving.renew_at.isoformat(),
        )
        return True

    def _tls_context(self, serving: ServingCertificate) -> ssl.SSLContext:
        # ``ssl`` loads a key pair only from files: the key stays readable by its owner only.
        key_file, chain_file = self._key_dir / "key.pem", self._key_dir / "cert-chain.pem"
        write_private(key_file, serving.key_pem)
        write_private(chain_file, serving.chain_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(chain_file, key_file)
        context.load_verify_locations(cadata=serving.bundle_pem)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.set_alpn_protocols(["h2"])
        return context

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval_s)
            self._refresh_logged()

    def _refresh_logged(self) -> None:
        if self._closed:  # the CA may outlive this port
            return
        try:
            self.refresh()
        except Exception:
            log.exception("control plane TLS certificate: renewal failed; keeping the old one")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only ``close`` cancels a relay: end it quietly (asyncio logs a connection
            # callback that ends cancelled as an error).
            writer.transport.abort()
        finally:
            self._relays.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _address_text(writer.get_extra_info("peername"))
        self._refresh_logged()
        assert self._context is not None
        try:
            await writer.start_tls(self._context, ssl_handshake_timeout=_HANDSHAKE_TIMEOUT_S)
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            # A plaintext client, an untrusted client certificate, or a client gone mid-way.
            log.info("TLS xDS port: handshake with %s failed: %s", peer, exc)
            writer.close()
            return
        identities = _client_identities(writer)
        identity = identities[0] if identities else _no_uri_san(writer)
        self.client_identities[identity] += 1
        log.debug("TLS xDS port: %s connected as %s", peer, identity or "<no certificate>")
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream, limit=_CHUNK)
        except OSError as exc:
            log.warning("TLS xDS port: cannot reach the gRPC port %s: %s", self._upstream, exc)
            writer.close()
            return
        # Registered before a byte is forwarded, so the gRPC server never sees a stream of this
        # connection without it; removed before the socket closes, so a later connection from
        # the same port is not taken for this one.
        local = up_writer.get_extra_info("sockname")
        self.peers.add(local[:2], RelayedPeer(client=peer, identities=identities))
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.peers.remove(local[:2])
            self._open.difference_update((writer, up_writer))
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:  # TLS cannot half-close: the other direction is done too
            writer.close()
    except (OSError, ssl.SSLError):
        writer.close()


def _client_identities(writer: asyncio.StreamWriter) -> tuple[str, ...]:
    """The URI SANs (SPIFFE IDs) of the client's verified certificate, as istiod's client
    certificate authenticator reads them; empty without a certificate or without URI SANs."""
    der = _client_certificate(writer)
    if der is None:
        return ()
    try:
        cert = x509.load_der_x509_certificate(der)
        uris = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.UniformResourceIdentifier)
    except (ValueError, x509.ExtensionNotFound):
        return ()
    return tuple(uris)


def _no_uri_san(writer: asyncio.StreamWriter) -> str:
    """How ``client_identities`` counts a client without an identity: "" without a certificate."""
    return "" if _client_certificate(writer) is None else "<certificate without URI SAN>"


def _client_certificate(writer: asyncio.StreamWriter) -> bytes | None:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return der or None


def _loopback_for(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return host


def _address_text(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
