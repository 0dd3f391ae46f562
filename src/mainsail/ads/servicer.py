"""The gRPC edge: moves messages between an ADS stream and its ``Connection``; no xDS logic.

The node is read from the first request only (``set_node_on_first_message_only``) and kept for
the stream. Expected errors end the stream with their gRPC status (``errors.grpc_status``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from mainsail.ads import encoding
from mainsail.ads.connection import Connection
from mainsail.ads.errors import AdsError, InvalidNodeError, grpc_status
from mainsail.ads.node import proxy_node_from_envoy
from mainsail.ads.session import Mode, Request, Response


class Hub(Protocol):
    """What the servicer needs from the server."""

    def connected(self, connection: Connection) -> None: ...

    def received(self, connection: Connection, request: Request) -> None: ...

    def disconnected(self, connection: Connection) -> None: ...


_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

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
