"""A fluentd ``in_forward`` stand-in for tests: there is no fluentd package on these machines.

It accepts TCP connections and decodes the Forward Protocol v1
(https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1): Message mode
``[tag, time, record(, option)]``, Forward mode ``[tag, [[time, record], ...](, option)]`` and
PackedForward mode ``[tag, bin(entries)(, option)]``; ``time`` is an integer or the EventTime
extension (type 0: seconds, nanoseconds). An ``option`` with a ``chunk`` is acknowledged with
``{"ack": chunk}`` as the spec asks. Records land in ``records`` as ``FluentdRecord``.

msgpack is not installed in the venv, so the few types the protocol uses are decoded here:
nil, booleans, integers, floats, str, bin, arrays, maps and ext.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass(frozen=True, slots=True)
class EventTime:
    seconds: int
    nanoseconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FluentdRecord:
    tag: str
    time: float
    record: dict[str, Any]


class Incomplete(Exception):
    """More bytes are needed to decode the next object."""


def _need(data: bytes, at: int, size: int) -> None:
    if at + size > len(data):
        raise Incomplete


def _uint(data: bytes, at: int, size: int) -> int:
    _need(data, at, size)
    return int.from_bytes(data[at : at + size], "big")


def _sint(data: bytes, at: int, size: int) -> int:
    _need(data, at, size)
    return int.from_bytes(data[at : at + size], "big", signed=True)


def _ext(kind: int, payload: bytes) -> Any:
    if kind == 0 and len(payload) == 8:
        seconds, nanoseconds = struct.unpack(">II", payload)
        return EventTime(seconds, nanoseconds)
    return (kind, payload)


def unpack(data: bytes, at: int = 0) -> tuple[Any, int]:
    """One msgpack object from ``data[at:]`` and the offset after it (``Incomplete`` when the
    buffer ends inside it)."""
    _need(data, at, 1)
    head = data[at]
    at += 1
    if head <= 0x7F:
        return head, at
    if head >= 0xE0:
        return head - 0x100, at
    if 0x80 <= head <= 0x8F:
        return _map(data, at, head & 0x0F)
    if 0x90 <= head <= 0x9F:
        return _array(data, at, head & 0x0F)
    if 0xA0 <= head <= 0xBF:
        return _bytes(data, at, head & 0x1F, text=True)
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if head in simple:
        return simple[head], at
    sizes = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
    if head in sizes:
        return _uint(data, at, sizes[head]), at + sizes[head]
    signed = {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    if head in signed:
        return _sint(data, at, signed[head]), at + signed[head]
    if head in (0xCA, 0xCB):
        size = 4 if head == 0xCA else 8
        _need(data, at, size)
        value = struct.unpack(">f" if size == 4 else ">d", data[at : at + size])[0]
        return value, at + size
    lengths = {0xD9: (1, True), 0xDA: (2, True), 0xDB: (4, True)}
    lengths |= {0xC4: (1, False), 0xC5: (2, False), 0xC6: (4, False)}
    if head in lengths:
        size, text = lengths[head]
        return _bytes(data, at + size, _uint(data, at, size), text=text)
    if head in (0xDC, 0xDD):
        size = 2 if head == 0xDC else 4
        return _array(data, at + size, _uint(data, at, size))
    if head in (0xDE, 0xDF):
        size = 2 if head == 0xDE else 4
        return _map(data, at + size, _uint(data, at, size))
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if head in fixext:
        _need(data, at, 1 + fixext[head])
        payload = data[at + 1 : at + 1 + fixext[head]]
        return _ext(data[at], payload), at + 1 + fixext[head]
    if head in (0xC7, 0xC8, 0xC9):
        size = {0xC7: 1, 0xC8: 2, 0xC9: 4}[head]
        length = _uint(data, at, size)
        _need(data, at + size, 1 + length)
        kind = data[at + size]
        start = at + size + 1
        return _ext(kind, data[start : start + length]), start + length
    raise ValueError(f"msgpack: unknown type byte 0x{head:02x} at offset {at - 1}")


def _bytes(data: bytes, at: int, length: int, *, text: bool) -> tuple[Any, int]:
    _need(data, at, length)
    raw = data[at : at + length]
    return (raw.decode() if text else raw), at + length


def _array(data: bytes, at: int, count: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(count):
        item, at = unpack(data, at)
        items.append(item)
    return items, at


def _map(data: bytes, at: int, count: int) -> tuple[dict[Any, Any], int]:
    found: dict[Any, Any] = {}
    for _ in range(count):
        key, at = unpack(data, at)
        value, at = unpack(data, at)
        found[key] = value
    return found, at


def _seconds(value: Any) -> float:
    if isinstance(value, EventTime):
        return value.seconds + value.nanoseconds / 1e9
    return float(value)


def _record(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):  # a record packed as bin: decode its content
        value = unpack(value)[0]
    return dict(value) if isinstance(value, dict) else {"value": value}


def events(message: list[Any]) -> list[FluentdRecord]:
    """The records of one Forward Protocol message (any mode)."""
    tag = str(message[0])
    second = message[1]
    if isinstance(second, list):  # Forward mode
        return [FluentdRecord(tag=tag, time=_seconds(t), record=_record(r)) for t, r in second]
    if isinstance(second, bytes | str):  # PackedForward mode
        raw = second.encode() if isinstance(second, str) else second
        found, at = [], 0
        while at < len(raw):
            entry, at = unpack(raw, at)
            found.append(FluentdRecord(tag=tag, time=_seconds(entry[0]), record=_record(entry[1])))
        return found
    return [FluentdRecord(tag=tag, time=_seconds(second), record=_record(message[2]))]


def _ack(chunk: str) -> bytes:
    # {"ack": chunk} with a str8 value (a chunk id is base64 text).
    encoded = chunk.encode()
    return b"\x81\xa3ack" + b"\xd9" + bytes([len(encoded)]) + encoded


@dataclass
class FluentdReceiver:
    """``async with FluentdReceiver(host) as fluentd``: listens on ``fluentd.port``."""

    host: str = "127.0.0.1"
    port: int = 0
    records: list[FluentdRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                while buffer:
                    try:
                        message, used = unpack(buffer)
                    except Incomplete:
                        break
                    buffer = buffer[used:]
                    if not isinstance(message, list) or len(message) < 2:
                        self.errors.append(f"not a forward protocol message: {message!r}")
                        continue
                    self.records.extend(events(message))
                    option = message[-1] if len(message) > 2 else None
                    if isinstance(option, dict) and isinstance(option.get("chunk"), str):
                        writer.write(_ack(option["chunk"]))
                        await writer.drain()
        except ValueError as error:
            self.errors.append(str(error))
        finally:
            writer.close()

    async def __aenter__(self) -> FluentdReceiver:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
