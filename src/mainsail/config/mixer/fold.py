"""Partial evaluation of CEXL with what is known when a proxy's config is built.

On a given proxy and listener many attributes are constants: its own workload, namespace and
labels, ``context.reporter.kind``, the inbound Service, ``context.protocol`` (``tcp`` on a
``tcp_proxy``; ``http`` or ``grpc`` on an HCM). Folding them away leaves Envoy nothing to
evaluate for a dimension like ``reporter`` and drops a logger whose rule can never match here
(``promtcp`` on an HCM). What stays is compiled to CEL by ``config.mixer.cel``.

A constant is a string, integer, boolean, a string map (labels), or a ``frozenset`` of the
strings an attribute may be (``{"http", "grpc"}``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

from mainsail.config.mixer.attributes import ValueType
from mainsail.config.mixer.cexl import Attribute, Binary, Call, Expr, Index, Literal, Unary

Constant = str | int | bool | Mapping[str, str] | frozenset[str]


class _Absent:
    """A map entry the constant map does not have: ``|`` takes its default."""


ABSENT = _Absent()


def _literal(value: str | int | bool, column: int) -> Literal:
    if isinstance(value, bool):
        return Literal(value=value, type=ValueType.BOOL, column=column)
    if isinstance(value, int):
        return Literal(value=value, type=ValueType.INT64, column=column)
    return Literal(value=value, type=ValueType.STRING, column=column)


def _folded(expr: Expr, constants: Mapping[str, Constant]) -> Expr | _Absent:
    if isinstance(expr, Literal):
        return expr
    if isinstance(expr, Attribute):
        value = constants.get(expr.name)
        if isinstance(value, str | int | bool):
            return _literal(value, expr.column)
        return expr
    if isinstance(expr, Index):
        target = expr.target
        key = fold(expr.key, constants)
        if isinstance(target, Attribute) and isinstance(key, Literal):
            table = constants.get(target.name)
            if isinstance(table, Mapping):
                found = table.get(str(key.value))
                return ABSENT if found is None else _literal(found, expr.column)
        return Index(target=target, key=key, column=expr.column)
    if isinstance(expr, Unary):
        operand = fold(expr.operand, constants)
        if expr.op == "!" and isinstance(operand, Literal) and isinstance(operand.value, bool):
            return _literal(not operand.value, expr.column)
        return Unary(op=expr.op, operand=operand, column=expr.column)
    if isinstance(expr, Call):
        return _call(expr, constants)
    return _binary(expr, constants)


def _options(expr: Expr, constants: Mapping[str, Constant]) -> frozenset[str] | None:
    if isinstance(expr, Attribute):
        value = constants.get(expr.name)
        if isinstance(value, frozenset):
            return value
    return None


def _binary(expr: Binary, constants: Mapping[str, Constant]) -> Expr:
    if expr.op == "|":
        left = _folded(expr.left, constants)
        if isinstance(left, _Absent):
            return fold(expr.right, constants)
        if isinstance(left, Literal):
            return left
        return Binary(op="|", left=left, right=fold(expr.right, constants), column=expr.column)
    left, right = fold(expr.left, constants), fold(expr.right, constants)
    if expr.op in ("&&", "||"):
        stop = expr.op == "||"  # the value that decides the result on its own
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Literal) and side.value is stop:
                return _literal(stop, expr.column)
            if isinstance(side, Literal) and side.value is not stop:
                return other
    if expr.op in ("==", "!="):
        equal: bool | None = None
        if isinstance(left, Literal) and isinstance(right, Literal):
            equal = left.value == right.value
        else:
            for side, other in ((expr.left, right), (expr.right, left)):
                options = _options(side, constants)
                if (
                    options is not None
                    and isinstance(other, Literal)
                    and other.value not in options
                ):
                    equal = False
        if equal is not None:
            return _literal(equal if expr.op == "==" else not equal, expr.column)
    return Binary(op=expr.op, left=left, right=right, column=expr.column)


def _call(expr: Call, constants: Mapping[str, Constant]) -> Expr:
    args = tuple(fold(a, constants) for a in expr.args)
    receiver = fold(expr.receiver, constants) if expr.receiver is not None else None
    if expr.name == "conditional" and receiver is None and len(args) == 3:
        condition = args[0]
        if isinstance(condition, Literal) and isinstance(condition.value, bool):
            return args[1] if condition.value else args[2]
    if all(isinstance(a, Literal) for a in args) and isinstance(receiver, Literal | None):
        values = [a.value for a in args if isinstance(a, Literal)]
        if expr.name == "match" and receiver is None and len(values) == 2:
            return _literal(fnmatch.fnmatchcase(str(values[0]), str(values[1])), expr.column)
        if expr.name in ("startsWith", "endsWith") and isinstance(receiver, Literal):
            text = str(receiver.value)
            method = text.startswith if expr.name == "startsWith" else text.endswith
            return _literal(method(str(values[0])), expr.column)
    return Call(name=expr.name, args=args, receiver=receiver, column=expr.column)


def fold(expr: Expr, constants: Mapping[str, Constant]) -> Expr:
    """``expr`` with every part known from ``constants`` evaluated (a missing map entry
    without a ``|`` default stays as written: Envoy reports it missing at run time)."""
    found = _folded(expr, constants)
    return expr if isinstance(found, _Absent) else found
