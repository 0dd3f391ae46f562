"""Scalar field types of the Istio wire format, checked as strictly as the CRD schema checks them.

YAML is loose (``"5"``, ``5.0`` and ``true`` are all easy to write by accident); Kubernetes' structural
schema is not, and neither are we: integers must be integers, booleans booleans, numbers numbers.

``Duration`` is Istio's ``google.protobuf.Duration``: on the wire a Go-style duration string
(``"1s"``, ``"0.5s"``, ``"100ms"``, ``"1h"``, ``"1m30s"``), in Python a :class:`datetime.timedelta`.
It is written back in protobuf's canonical JSON form (``"0.100s"``). Python's ``timedelta`` has
microsecond resolution, so nanosecond parts are rounded (no mesh setting needs them).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

Bool = Annotated[bool, Strict()]
Double = Annotated[float, Strict()]
Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, Strict(), Field(ge=0, le=2**32 - 1)]
UInt64 = Annotated[int, Strict(), Field(ge=0, le=2**64 - 1)]

_UNIT_NANOS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # Go accepts both micro signs
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go/Istio duration string; raise ``ValueError`` with a readable reason."""
    if not isinstance(text, str):
        raise ValueError("a duration must be a string such as '1s' or '100ms'")
    body = text.strip()
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return timedelta(0)
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    nanos = Decimal(0)
    pos = 0
    while pos < len(body):
        found = _PART.match(body, pos)
        if found is None:
            raise ValueError(
                f"invalid duration {text!r}: expected a number and a unit (ns, us, ms, s, m, h)"
            )
        nanos += Decimal(found.group(1)) * _UNIT_NANOS[found.group(2)]
        pos = found.end()
    micros = (nanos / 1000).to_integral_value()
    return sign * timedelta(microseconds=int(micros))


def format_duration(value: timedelta) -> str:
    """Protobuf's canonical JSON form: seconds with 0, 3, 6 or 9 fraction digits."""
    total_micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if total_micros < 0 else ""
    seconds, micros = divmod(abs(total_micros), 1_000_000)
    if micros == 0:
        return f"{sign}{seconds}s"
    if micros % 1000 == 0:
        return f"{sign}{seconds}.{micros // 1000:03d}s"
    return f"{sign}{seconds}.{micros:06d}s"


def _to_timedelta(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
    raise PydanticCustomError("duration", "a duration must be a string such as '1s' or '100ms'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_timedelta),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string"}),
]
