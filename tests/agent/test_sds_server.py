"""The SDS server over its Unix socket with a raw gRPC client: bad input ends only the stream
that sent it, with a message; the socket is private; other streams keep being served."""

from __future__ import annotations

import asyncio
import contextlib
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc

from mainsail import naming
from mainsail.agent.errors import SdsError
from mainsail.agent.identity import WorkloadIdentity
from mainsail.agent.sds import SdsServer
from mainsail.agent.sds_stream import decode_secret
from mainsail.testing.signer import InMemoryCa

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[tuple[SdsServer, sds_pb2_grpc.SecretDiscoveryServiceStub]]:
    identity = WorkloadIdentity(
        pod="shop.web-0", spiffe_id=SPIFFE, signer=InMemoryCa(), token=lambda: "t", ttl_s=300
    )
    await identity.renew()
    server = SdsServer(identity, Path(f"/tmp/mainsail-test-sds-{time.monotonic_ns()}.sock"))
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix:{server.socket}")
    try:
        yield server, sds_pb2_grpc.SecretDiscoveryServiceStub(channel)
    finally:
        await channel.close()
        await server.stop()


async def one_response(stub: sds_pb2_grpc.SecretDiscoveryServiceStub, names: list[str]) -> object:
    queue: asyncio.Queue[object] = asyncio.Queue()
    await queue.put(
        discovery_pb2.DiscoveryRequest(type_url=naming.SECRET_TYPE, resource_names=names)
    )

    async def requests() -> AsyncIterator[object]:
        while True:
            yield await queue.get()

    call = stub.StreamSecrets(requests())
    try:
        return await asyncio.wait_for(call.read(), 10)
    finally:
        call.cancel()


async def test_wrong_type_ends_that_stream_with_invalid_argument() -> None:
    async with serving() as (_server, stub):

        async def bad() -> AsyncIterator[object]:
            yield discovery_pb2.DiscoveryRequest(type_url=naming.CLUSTER_TYPE, resource_names=["x"])

        call = stub.StreamSecrets(bad())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await asyncio.wait_for(call.read(), 10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "is not" in (raised.value.details() or "")
        assert "Secret" in (raised.value.details() or "")
        # The server is unharmed: a good stream is still answered.
        response = await one_response(stub, ["default"])
        assert [decode_secret(r).name for r in response.resources] == ["default"]  # type: ignore[attr-defined]


async def test_garbage_bytes_are_refused_and_the_server_keeps_serving() -> None:
    async with serving() as (_server, stub):
        channel = grpc.aio.insecure_channel(f"unix:{_server.socket}")
        raw = channel.stream_stream(
            "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )

        async def garbage() -> AsyncIterator[bytes]:
            yield b"\xff\xff\xff not a protobuf"

        call = raw(garbage())
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await asyncio.wait_for(call.read(), 10)
        assert raised.value.code() != grpc.StatusCode.OK
        await channel.close()
        response = await one_response(stub, ["ROOTCA", "default"])
        assert sorted(decode_secret(r).name for r in response.resources) == ["ROOTCA", "default"]  # type: ignore[attr-defined]


async def test_fetch_secrets_answers_the_current_svid() -> None:
    async with serving() as (server, stub):
        response = await stub.FetchSecrets(
            discovery_pb2.DiscoveryRequest(type_url=naming.SECRET_TYPE, resource_names=["default"])
        )
        assert server.identity.svid is not None
        assert decode_secret(response.resources[0]).name == "default"


async def test_socket_is_private_and_paths_over_the_limit_are_refused() -> None:
    async with serving() as (server, _stub):
        assert stat.S_IMODE(server.socket.stat().st_mode) == 0o600
    assert not server.socket.exists()
    identity = WorkloadIdentity(
        pod="p", spiffe_id=SPIFFE, signer=InMemoryCa(), token=lambda: "t", ttl_s=1
    )
    with pytest.raises(SdsError, match=r"over the 107-byte Unix socket path limit"):
        SdsServer(identity, Path("/tmp/" + "x" * 120 + ".sock"))
