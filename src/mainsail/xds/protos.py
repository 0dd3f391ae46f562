"""Small builders for Envoy protos that every translator needs (durations, addresses, sources)."""

from __future__ import annotations

from datetime import timedelta

from envoy.config.core.v3 import address_pb2, config_source_pb2
from google.protobuf import duration_pb2, struct_pb2, wrappers_pb2
from google.protobuf.message import Message

from mainsail.xds.resources import XdsResource

MAX_UINT32 = 4294967295


def duration(value: timedelta) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromTimedelta(value)
    return result


def uint32(value: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=value)


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port)
    )


def ads_source() -> config_source_pb2.ConfigSource:
    """Fetch over the ADS stream the bootstrap opened (resource API v3)."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def struct(values: dict[str, object]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def pack(name: str, message: Message) -> XdsResource:
    return XdsResource.pack(name, message)
