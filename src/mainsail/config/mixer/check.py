"""Mixer's type checker: the value type of a CEXL expression over the attribute vocabulary.

As Mixer's, it rejects unknown attributes and functions, wrong argument types and ``|``/``==``
between different types; ``|`` allows a string literal default for a duration
(``response.duration | "0ms"``), which Mixer parsed as a duration.
"""

from __future__ import annotations

from collections.abc import Mapping

from mainsail.config.mixer.attributes import ATTRIBUTES, ValueType
from mainsail.config.mixer.cexl import (
    Attribute,
    Binary,
    Call,
    CexlError,
    Expr,
    Index,
    Literal,
    Unary,
    parse,
)

_S, _B, _I = ValueType.STRING, ValueType.BOOL, ValueType.INT64
_ORDERED = frozenset({ValueType.INT64, ValueType.DOUBLE, ValueType.TIMESTAMP, ValueType.DURATION})

# Free functions: argument types → result.
_FUNCTIONS: dict[str, tuple[tuple[ValueType, ...], ValueType]] = {
    "match": ((_S, _S), _B),
    "email": ((_S,), ValueType.EMAIL_ADDRESS),
    "dnsName": ((_S,), ValueType.DNS_NAME),
    "ip": ((_S,), ValueType.IP_ADDRESS),
    "timestamp": ((_S,), ValueType.TIMESTAMP),
    "uri": ((_S,), ValueType.URI),
    "emptyStringMap": ((), ValueType.STRING_MAP),
    "toLower": ((_S,), _S),
    "size": ((_S,), _I),
}
# Methods on a string receiver.
_METHODS: dict[str, tuple[tuple[ValueType, ...], ValueType]] = {
    "startsWith": ((_S,), _B),
    "endsWith": ((_S,), _B),
    "matches": ((_S,), _B),
}


def _name(value_type: ValueType) -> str:
    return value_type.value


def _is_duration_text(expr: Expr) -> bool:
    return isinstance(expr, Literal) and expr.type is _S


def _check_args(
    what: str,
    column: int,
    args: tuple[Expr, ...],
    wanted: tuple[ValueType, ...],
    attributes: Mapping[str, ValueType],
) -> None:
    if len(args) != len(wanted):
        raise CexlError(column, f"{what} takes {len(wanted)} argument(s), got {len(args)}")
    for position, (arg, expected) in enumerate(zip(args, wanted, strict=True), start=1):
        found = type_of(arg, attributes)
        if found is not expected:
            raise CexlError(
                arg.column,
                f"argument {position} of {what} must be {_name(expected)}, not {_name(found)}",
            )


def _binary(expr: Binary, attributes: Mapping[str, ValueType]) -> ValueType:
    left, right = type_of(expr.left, attributes), type_of(expr.right, attributes)
    if expr.op in ("&&", "||"):
        for side, found in ((expr.left, left), (expr.right, right)):
            if found is not _B:
                raise CexlError(side.column, f"{expr.op} needs BOOL operands, not {_name(found)}")
        return _B
    if expr.op == "|":
        if left is ValueType.DURATION and _is_duration_text(expr.right):
            return left
        if left is not right:
            raise CexlError(
                expr.column, f"'|' needs one type on both sides: {_name(left)} | {_name(right)}"
            )
        return left
    if expr.op == "+":
        if left is not right or left not in (_S, _I, ValueType.DOUBLE):
            raise CexlError(expr.column, f"cannot add {_name(left)} and {_name(right)}")
        return left
    if left is not right:
        raise CexlError(expr.column, f"cannot compare {_name(left)} {expr.op} {_name(right)}")
    if expr.op not in ("==", "!=") and left not in _ORDERED:
        raise CexlError(expr.column, f"{expr.op} is not defined on {_name(left)}")
    return _B


def type_of(expr: Expr, attributes: Mapping[str, ValueType] = ATTRIBUTES) -> ValueType:
    """The value type of ``expr``; ``CexlError`` names where and why it does not check."""
    if isinstance(expr, Literal):
        return expr.type
    if isinstance(expr, Attribute):
        found = attributes.get(expr.name)
        if found is None:
            raise CexlError(expr.column, f"unknown attribute {expr.name!r}")
        return found
    if isinstance(expr, Index):
        target = type_of(expr.target, attributes)
        if target is not ValueType.STRING_MAP:
            raise CexlError(expr.column, f"only a STRING_MAP can be indexed, not {_name(target)}")
        key = type_of(expr.key, attributes)
        if key is not _S:
            raise CexlError(expr.key.column, f"a map key must be STRING, not {_name(key)}")
        return _S
    if isinstance(expr, Unary):
        operand = type_of(expr.operand, attributes)
        if expr.op == "!" and operand is _B:
            return _B
        if expr.op == "-" and operand in (_I, ValueType.DOUBLE):
            return operand
        raise CexlError(expr.column, f"{expr.op} is not defined on {_name(operand)}")
    if isinstance(expr, Binary):
        return _binary(expr, attributes)
    return _call(expr, attributes)


def _call(expr: Call, attributes: Mapping[str, ValueType]) -> ValueType:
    if expr.receiver is not None:
        method = _METHODS.get(expr.name)
        if method is None:
            raise CexlError(expr.column, f"unknown method .{expr.name}()")
        receiver = type_of(expr.receiver, attributes)
        if receiver is not _S:
            raise CexlError(expr.column, f".{expr.name}() needs a STRING, not {_name(receiver)}")
        _check_args(f".{expr.name}()", expr.column, expr.args, method[0], attributes)
        return method[1]
    if expr.name == "conditional":
        if len(expr.args) != 3:
            raise CexlError(expr.column, f"conditional() takes 3 arguments, got {len(expr.args)}")
        condition, then, otherwise = (type_of(a, attributes) for a in expr.args)
        if condition is not _B:
            raise CexlError(expr.args[0].column, "conditional() needs a BOOL condition")
        if then is not otherwise:
            raise CexlError(
                expr.column,
                f"conditional() branches differ: {_name(then)} and {_name(otherwise)}",
            )
        return then
    function = _FUNCTIONS.get(expr.name)
    if function is None:
        raise CexlError(expr.column, f"unknown function {expr.name}()")
    _check_args(f"{expr.name}()", expr.column, expr.args, function[0], attributes)
    return function[1]


def check(text: str, wanted: ValueType | None = None) -> tuple[Expr, ValueType]:
    """Parse and type-check ``text``; with ``wanted``, the result must have that type."""
    expr = parse(text)
    found = type_of(expr)
    if wanted is not None and found is not wanted:
        raise CexlError(1, f"expression is {_name(found)}, {_name(wanted)} is required")
    return expr, found
