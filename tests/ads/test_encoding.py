"""Assembled response bytes are exactly what serializing the protobuf message gives."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from mainsail import naming
from mainsail.ads import encoding
from mainsail.testing import envoy_config as ec

RESOURCES = [
    ec.eds_cluster("a"),
    ec.eds_cluster("b" * 300, connect_timeout_ms=2500),  # multi-byte length varints
    ec.endpoints("a", [("127.0.0.1", 9000), ("127.0.0.2", 9001)]),
    ec.route_to("r", "a", regex="^/x"),
]


@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("removed", [(), ("gone", "x" * 200)])
def test_delta_bytes_equal_the_message(count: int, removed: tuple[str, ...]) -> None:
    resources = RESOURCES[:count]
    got = encoding.delta_response(
        version="v1", type_url=naming.CLUSTER_TYPE, nonce="7", resources=resources, removed=removed
    )
    want = discovery_pb2.DeltaDiscoveryResponse(
        system_version_info="v1", type_url=naming.CLUSTER_TYPE, nonce="7"
    )
    for r in resources:
        want.resources.add(name=r.name, version=r.version, resource=r.body)
    want.removed_resources.extend(removed)
    assert encoding.serialize(got) == want.SerializeToString(deterministic=True)
    # the fields read as the message's
    assert [r.name for r in got.resources] == [r.name for r in resources]
    assert list(got.removed_resources) == list(removed) and got.nonce == "7"


@pytest.mark.parametrize("count", [0, 1, 4])
def test_sotw_bytes_equal_the_message(count: int) -> None:
    resources = RESOURCES[:count]
    got = encoding.sotw_response(
        version="", type_url=naming.ROUTE_TYPE, nonce="12", resources=resources
    )
    want = discovery_pb2.DiscoveryResponse(type_url=naming.ROUTE_TYPE, nonce="12")
    want.resources.extend(r.body for r in resources)
    assert encoding.serialize(got) == want.SerializeToString(deterministic=True)
    assert got.version_info == "" and len(got.resources) == count


def test_a_plain_message_is_serialized() -> None:
    message = discovery_pb2.DiscoveryResponse(nonce="1")
    assert encoding.serialize(message) == message.SerializeToString()


def test_the_type_url_is_read_without_parsing_the_response() -> None:
    """Every response sent is counted by type (``monitoring.xds_sent``): that must not parse a
    5 MB route table per proxy."""
    for response in (
        encoding.delta_response(
            version="v", type_url=naming.ROUTE_TYPE, nonce="1", resources=RESOURCES
        ),
        encoding.sotw_response(version="", type_url=naming.ROUTE_TYPE, nonce="1", resources=()),
    ):
        assert response.type_url == naming.ROUTE_TYPE
        assert response._message is None
        assert response.message.type_url == naming.ROUTE_TYPE
