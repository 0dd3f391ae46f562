"""The fluentd forward-protocol stand-in: msgpack decoding and the three message modes."""

from __future__ import annotations

import asyncio

import pytest

from mainsail.testing.fluentd import EventTime, FluentdReceiver, Incomplete, events, unpack
from mainsail.testing.waiting import wait_for


def _str(text: str) -> bytes:
    data = text.encode()
    return bytes([0xA0 | len(data)]) + data


def test_unpack_scalars_and_containers() -> None:
    assert unpack(b"\x93\x01\xcd\x01\x00\xff") == ([1, 256, -1], 6)
    assert unpack(b"\x82" + _str("a") + b"\xc3" + _str("b") + b"\xc0")[0] == {"a": True, "b": None}
    assert unpack(b"\xcb" + bytes.fromhex("3ff8000000000000"))[0] == 1.5
    assert unpack(b"\xd7\x00" + bytes.fromhex("0000000a00000005"))[0] == EventTime(10, 5)
    with pytest.raises(Incomplete):
        unpack(b"\x92\x01")
    with pytest.raises(ValueError, match="unknown type byte 0xc1"):
        unpack(b"\xc1")


def test_message_forward_and_packed_forward_modes() -> None:
    record = b"\x81" + _str("k") + _str("v")
    message = [
        "t",
        [[1, {"k": "v"}]],
    ]
    assert events(message)[0].record == {"k": "v"}
    assert events(["t", 7, {"k": "v"}])[0].time == 7.0
    packed = b"\x92\x01" + record + b"\x92\x02" + record
    assert [e.time for e in events(["t", packed])] == [1.0, 2.0]


async def test_receiver_acknowledges_chunks() -> None:
    async with FluentdReceiver() as fluentd:
        reader, writer = await asyncio.open_connection(fluentd.host, fluentd.port)
        option = b"\x81" + _str("chunk") + _str("abc")
        # [tag, time, record, option], split over two writes.
        payload = b"\x94" + _str("app") + b"\x05" + b"\x81" + _str("k") + _str("v") + option
        writer.write(payload[:5])
        await writer.drain()
        writer.write(payload[5:])
        await writer.drain()
        ack = await asyncio.wait_for(reader.read(64), timeout=10)
        assert unpack(ack)[0] == {"ack": "abc"}
        await wait_for(lambda: bool(fluentd.records), timeout=10, message="record")
        writer.close()
    assert fluentd.records[0].tag == "app"
    assert fluentd.records[0].record == {"k": "v"}
