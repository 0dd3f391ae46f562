"""The pod's SDS server: Envoy's ``sds-grpc`` cluster dials it on a Unix socket of its own.

Only moves messages: the protocol is ``SdsStream``, the certificates ``WorkloadIdentity``. Each
stream waits on two things at once, Envoy's next request and the identity's next SVID, and
answers whichever comes first, so a renewed certificate reaches Envoy without a restart.

The socket is the pod's credential boundary (as the pod's filesystem is in Istio): it is created
mode 0600 in a directory only the agent's user can enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from envoy.service.secret.v3 import sds_pb2_grpc

from mainsail.agent.bootstrap import GRPC_SERVER_OPTIONS
from mainsail.agent.errors import SdsError
from mainsail.agent.file_secrets import FileSecrets
from mainsail.agent.identity import WorkloadIdentity
from mainsail.agent.sds_stream import (
    SERVED_SECRETS,
    PackedSecret,
    SdsRequestError,
    SdsStream,
    build_secrets,
    servable,
)

log = logging.getLogger(__name__)

# Linux's sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107

_NEW_SVID = object()
_RECHECK = object()
# How often a stream that holds file secrets looks at their files again.
FILE_POLL_S = 1.0


class SdsServer:
    def __init__(self, identity: WorkloadIdentity, socket: Path) -> None:
        if len(str(socket)) > MAX_SOCKET_PATH:
            raise SdsError(
                f"SDS socket {socket}: {len(str(socket))} bytes, over the {MAX_SOCKET_PATH}-byte "
                "Unix socket path limit"
            )
        self.identity = identity
        self.socket = socket
        self._server: grpc.aio.Server | None = None
        self._secrets: tuple[tuple[int, int], dict[str, PackedSecret]] | None = None
        self._files = FileSecrets(identity.pod)
        self.streams = 0

    async def start(self) -> None:
        directory = self.socket.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_uid != os.getuid():
            raise SdsError(f"SDS socket directory {directory}: owned by another user")
        self.socket.unlink(missing_ok=True)  # a previous agent's socket: nobody listens on it
        server = grpc.aio.server(options=GRPC_SERVER_OPTIONS)
        sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(_Servicer(self), server)
        try:
            server.add_insecure_port(f"unix:{self.socket}")
        except RuntimeError as error:
            raise SdsError(f"SDS socket {self.socket}: cannot bind: {error}") from error
        await server.start()
        os.chmod(self.socket, 0o600)
        self._server = server
        log.info("sds: %s serving on %s", self.identity.pod, self.socket)

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; SDS streams never end by themselves, so by default they are cut at once
        (Envoy keeps the secrets it holds and reconnects to the next server on the socket)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
        self.socket.unlink(missing_ok=True)

    def secrets(self, names: frozenset[str] = frozenset()) -> dict[str, PackedSecret]:
        """What can be served of ``names`` now: the current SVID's (built once per SVID; none
        before the first) and the file secrets whose files can be read."""
        result: dict[str, PackedSecret] = {}
        svid, bundle = self.identity.svid, self.identity.bundle
        version = (self.identity.version, bundle.version)
        if svid is not None:
            if self._secrets is None or self._secrets[0] != version:
                self._secrets = (version, build_secrets(svid, bundle.roots))
            result.update(self._secrets[1])
        for name in names:
            if name not in SERVED_SECRETS and servable(name):
                secret = self._files.get(name)
                if secret is not None:
                    result[name] = secret
        return result

    async def serve(
        self, delta: bool, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        stream = SdsStream(self.identity.pod, delta=delta)
        events: asyncio.Queue[object] = asyncio.Queue()
        reader = asyncio.create_task(_read(requests, events))
        watcher = asyncio.create_task(_watch(self.identity, events))
        bundle_watcher = asyncio.create_task(_watch_bundle(self.identity, events))
        self.streams += 1
        getter: asyncio.Future[object] | None = None
        try:
            while True:
                watching_files = any(servable(n) and n not in SERVED_SECRETS for n in stream.names)
                # One pending get across timeouts, so an event is never lost to a cancellation.
                if getter is None:
                    getter = asyncio.ensure_future(events.get())
                done, _ = await asyncio.wait(
                    {getter}, timeout=FILE_POLL_S if watching_files else None
                )
                if getter in done:
                    event, getter = getter.result(), None
                else:
                    event = _RECHECK
                if event is None:
                    return
                if isinstance(event, BaseException):
                    # Undecodable bytes or a broken stream: this stream ends, the server serves on.
                    message = f"SDS request of pod {self.identity.pod}: unreadable: {event}"
                    log.warning("sds: %s", message)
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)
                    return
                if event is not _NEW_SVID and event is not _RECHECK:
                    try:
                        stream.receive(event)
                    except SdsRequestError as error:
                        log.warning("sds: %s", error)
                        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
                        return
                response = stream.response(self.secrets(stream.names))
                if response is not None:
                    yield response
        finally:
            self.streams -= 1
            if getter is not None:
                getter.cancel()
            for task in (reader, watcher, bundle_watcher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _read(requests: AsyncIterator[Any], events: asyncio.Queue[object]) -> None:
    try:
        async for request in requests:
            events.put_nowait(request)
    except Exception as error:  # a broken stream from the client side ends this stream only
        events.put_nowait(error)
    else:
        events.put_nowait(None)


async def _watch(identity: WorkloadIdentity, events: asyncio.Queue[object]) -> None:
    version = 0
    while True:
        version, _ = await identity.wait_newer(version)
        events.put_nowait(_NEW_SVID)


async def _watch_bundle(identity: WorkloadIdentity, events: asyncio.Queue[object]) -> None:
    version = identity.bundle.version
    while True:
        version = await identity.bundle.wait_newer(version)
        events.put_nowait(_NEW_SVID)


class _Servicer(sds_pb2_grpc.SecretDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, server: SdsServer) -> None:
        self._server = server

    async def StreamSecrets(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for response in self._server.serve(False, requests, context):
            yield response

    async def DeltaSecrets(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for response in self._server.serve(True, requests, context):
            yield response

    async def FetchSecrets(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        """REST-style fetch: the named secrets now, UNAVAILABLE before the first SVID."""
        stream = SdsStream(self._server.identity.pod, delta=False)
        try:
            stream.receive(request)
        except SdsRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        response = stream.response(self._server.secrets(stream.names))
        if response is None:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"no certificate yet for pod {self._server.identity.pod}",
            )
        return response
