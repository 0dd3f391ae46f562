"""The SDS stream state machine (pure): subscriptions, ACK/NACK, stale nonces, unknown names."""

from __future__ import annotations

import logging

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from mainsail import naming
from mainsail.agent.sds_stream import SdsRequestError, SdsStream, build_secrets, decode_secret
from mainsail.agent.svid import Svid, build_csr, generate_key, svid_from_response
from mainsail.testing.signer import InMemoryCa

SPIFFE = "spiffe://cluster.local/ns/shop/sa/web"


async def new_svid(ca: InMemoryCa) -> Svid:
    key = generate_key()
    return svid_from_response(
        await ca.sign(build_csr(key, SPIFFE), 60, "t"), key=key, spiffe_id=SPIFFE
    )


def sotw(names: list[str], nonce: str = "", error: str | None = None) -> object:
    request = discovery_pb2.DiscoveryRequest(
        type_url=naming.SECRET_TYPE, resource_names=names, response_nonce=nonce
    )
    if error is not None:
        request.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
    return request


async def test_sotw_answers_subscribed_names_once_per_version() -> None:
    ca = InMemoryCa()
    secrets = build_secrets(await new_svid(ca))
    stream = SdsStream("shop.web-0", delta=False)
    assert stream.receive(sotw(["default"]))
    assert stream.response(None) is None  # no SVID yet: Envoy waits
    response = stream.response(secrets)
    assert response is not None
    assert [decode_secret(r).name for r in response.resources] == ["default"]
    assert decode_secret(response.resources[0]).tls_certificate.private_key.inline_bytes
    assert stream.response(secrets) is None  # nothing new
    assert not stream.receive(sotw(["default"], nonce=response.nonce))  # ACK
    assert stream.acks == 1
    renewed = build_secrets(await new_svid(ca))
    again = stream.response(renewed)
    assert again is not None and again.nonce != response.nonce
    assert again.version_info != response.version_info


async def test_sotw_nack_is_logged_and_stale_nonces_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = build_secrets(await new_svid(InMemoryCa()))
    stream = SdsStream("shop.web-0", delta=False)
    stream.receive(sotw(["default", "ROOTCA"]))
    first = stream.response(secrets)
    assert first is not None and len(first.resources) == 2
    stream.receive(sotw(["default", "ROOTCA"], nonce=first.nonce, error="bad key"))
    assert stream.nacks == ["bad key"]
    assert any(
        "rejected secrets" in r.getMessage() and "bad key" in r.getMessage() for r in caplog.records
    )
    assert not stream.receive(sotw(["ROOTCA"], nonce="0"))  # stale nonce: ignored
    assert stream.names == {"default", "ROOTCA"}


async def test_unknown_names_are_logged_and_not_answered_in_sotw(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    secrets = build_secrets(await new_svid(InMemoryCa()))
    stream = SdsStream("shop.web-0", delta=False)
    stream.receive(sotw(["file-cert:/etc/x"]))
    assert stream.response(secrets) is None
    stream.receive(sotw(["file-cert:/etc/x", "ROOTCA"]))
    response = stream.response(secrets)
    assert response is not None
    assert [decode_secret(r).name for r in response.resources] == ["ROOTCA"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("'file-cert:/etc/x'" in m and "does not serve" in m for m in messages) == 1


async def test_delta_sends_changes_and_removes_unknown_names() -> None:
    ca = InMemoryCa()
    secrets = build_secrets(await new_svid(ca))
    stream = SdsStream("shop.web-0", delta=True)
    stream.receive(
        discovery_pb2.DeltaDiscoveryRequest(
            type_url=naming.SECRET_TYPE, resource_names_subscribe=["default", "nope"]
        )
    )
    response = stream.response(secrets)
    assert response is not None
    assert [r.name for r in response.resources] == ["default"]
    assert list(response.removed_resources) == ["nope"]
    ack = discovery_pb2.DeltaDiscoveryRequest(
        type_url=naming.SECRET_TYPE, response_nonce=response.nonce
    )
    stream.receive(ack)
    assert stream.response(secrets) is None
    renewed = build_secrets(await new_svid(ca))
    update = stream.response(renewed)
    assert update is not None and [r.name for r in update.resources] == ["default"]
    assert not update.removed_resources
    # A reconnecting Envoy that already holds this version gets nothing again.
    fresh = SdsStream("shop.web-0", delta=True)
    fresh.receive(
        discovery_pb2.DeltaDiscoveryRequest(
            type_url=naming.SECRET_TYPE,
            resource_names_subscribe=["default"],
            initial_resource_versions={"default": renewed["default"].version},
        )
    )
    assert fresh.response(renewed) is None


def test_another_type_is_a_clear_error() -> None:
    stream = SdsStream("shop.web-0", delta=False)
    request = discovery_pb2.DiscoveryRequest(type_url=naming.CLUSTER_TYPE)
    with pytest.raises(SdsRequestError, match=r"shop.web-0.*type_url.*Cluster.*is not.*Secret"):
        stream.receive(request)
