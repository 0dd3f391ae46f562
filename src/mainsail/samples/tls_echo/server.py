"""``python -m mainsail.samples.tls_echo.server [PREFIX]``: a TLS server answering each line with
``<PREFIX> <SNI> <line>`` (``-`` when the client sent no SNI).

Listens on ``$INSTANCE_IP:$PORT`` like every local-platform app. Its certificate is self-signed
and made at start with the ``openssl`` command (for ``localhost``; clients of this test server do
not verify it), in a temporary directory removed on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

NO_SNI = "-"


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (``openssl req -x509``)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _SniSeen:
    """The SNI of each handshake, by the ``SSLObject`` it happened on."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.names: dict[int, str] = {}
        context.sni_callback = self._record

    def _record(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
        self.names[id(sock)] = name or NO_SNI

    def pop(self, sock: object) -> str:
        return self.names.pop(id(sock), NO_SNI)


async def _echo(
    prefix: str, seen: _SniSeen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    sni = seen.pop(writer.get_extra_info("ssl_object"))
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while line := await reader.readline():
            writer.write(f"{prefix} {sni} ".encode() + line)
            await writer.drain()
    writer.close()


async def serve(prefix: str, host: str, port: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tls-echo-") as directory:
        context = self_signed_context(Path(directory))
        seen = _SniSeen(context)
        server = await asyncio.start_server(
            lambda r, w: _echo(prefix, seen, r, w), host, port, ssl=context
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        bound = server.sockets[0].getsockname()
        print(f"tls-echo listening on {bound[0]} port {bound[1]}", flush=True)
        async with server:
            await stop.wait()


def main() -> None:
    prefix = sys.argv[1] if len(sys.argv) > 1 else "hello"
    host = os.environ.get("INSTANCE_IP", "127.0.0.1")
    asyncio.run(serve(prefix, host, int(os.environ.get("PORT", "8443"))))


if __name__ == "__main__":
    main()
