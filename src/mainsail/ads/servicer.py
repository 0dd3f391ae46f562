"""The gRPC edge: moves messages between an ADS stream and its ``Connection``; no xDS logic.

The node is read from the first request only (``set_node_on_first_message_only``) and kept for
the stream. Expected errors end the stream with their gRPC status (``errors.grpc_status``).

Streams relayed from the TLS port (found in ``XdsPeers``) are authenticated as istiod's
``XDS_AUTH`` (``pilot/pkg/xds/auth.go``): no client certificate identity is UNAUTHENTICATED,
identities that do not match the node's namespace and service account are PERMISSION_DENIED.
Streams on the plaintext port (meant for this machine) are not authenticated, as istiod's 15010.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from mainsail.ads import encoding
from mainsail.ads.connection import Connection
from mainsail.ads.errors import AdsError, InvalidNodeError, grpc_status
from mainsail.ads.node import proxy_node_from_envoy
from mainsail.ads.session import Mode, Request, Response
from mainsail.ca.xds_peers import IdentityMismatch, XdsPeers, check_connection_identity
from mainsail.snapshot.proxy import ProxyNode

log = logging.getLogger(__name__)


class Hub(Protocol):
    """What the servicer needs from the server."""

    def connected(self, connection: Connection) -> None: ...

    def received(self, connection: Connection, request: Request) -> None: ...

    def disconnected(self, connection: Connection) -> None: ...


_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, hub: Hub, peers: XdsPeers | None = None) -> None:
        self._hub = hub
        self._peers = peers if peers is not None else XdsPeers()

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register as ``ads_pb2_grpc`` does, but responses go out as the bytes the session
        assembled (``encoding``), not re-serialized per stream."""
        handlers = {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
                response_serializer=encoding.serialize,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
                response_serializer=encoding.serialize,
            ),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))

    async def StreamAggregatedResources(
        self, requests: AsyncIterator[Request], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Response]:
        async for response in self._serve(Mode.SOTW, requests, context):
            yield response

    async def DeltaAggregatedResources(
        self, requests: AsyncIterator[Request], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Response]:
        async for response in self._serve(Mode.DELTA, requests, context):
            yield response

    async def _serve(
        self,
        mode: Mode,
        requests: AsyncIterator[Request],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[Response]:
        iterator = aiter(requests)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            return
        try:
            if not first.HasField("node"):
                raise InvalidNodeError("node", "missing on the first request")
            connection = Connection(
                node=proxy_node_from_envoy(first.node),
                mode=mode,
                connected_since=datetime.now(UTC),
            )
        except AdsError as e:
            await context.abort(grpc_status(e), str(e))
            return
        refusal = self._refusal(first.node, connection.node, context.peer())
        if refusal is not None:
            await context.abort(*refusal)
            return
        self._hub.connected(connection)
        reader = asyncio.create_task(self._read(connection, first, iterator))
        try:
            while True:
                item = await connection.outbox.get()
                if item is None:
                    return
                if isinstance(item, AdsError):
                    await context.abort(grpc_status(item), str(item))
                    return
                yield item
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._hub.disconnected(connection)

    def _refusal(
        self, envoy_node: base_pb2.Node, node: ProxyNode, grpc_peer: str
    ) -> tuple[grpc.StatusCode, str] | None:
        """Why a stream relayed from the TLS port may not have config (status, message), or
        None. The service account is the node's own metadata, unset when absent (istiod skips
        the check then), not ``ProxyNode``'s default."""
        relayed = self._peers.lookup(grpc_peer)
        if relayed is None:
            return None  # the plaintext port: not authenticated, as istiod's 15010
        if not relayed.identities:
            log.error(
                "Failed to authenticate client from %s (proxy %s): no client certificate with "
                "a SPIFFE identity on the TLS port",
                relayed.client,
                node.node_id,
            )
            return grpc.StatusCode.UNAUTHENTICATED, "authentication failure"
        account = envoy_node.metadata.fields.get("SERVICE_ACCOUNT")
        try:
            check_connection_identity(
                relayed.identities,
                node.namespace,
                account.string_value if account is not None else "",
            )
        except IdentityMismatch as e:
            log.warning(
                "Unauthorized XDS: %s (proxy %s) with identity [%s]: %s",
                relayed.client,
                node.node_id,
                " ".join(relayed.identities),
                e,
            )
            return grpc.StatusCode.PERMISSION_DENIED, f"authorization failed: {e}"
        return None

    async def _read(
        self, connection: Connection, first: Request, iterator: AsyncIterator[Request]
    ) -> None:
        try:
            self._hub.received(connection, first)
            async for request in iterator:
                self._hub.received(connection, request)
        except AdsError as e:
            connection.outbox.put_nowait(e)
        finally:
            connection.outbox.put_nowait(None)
