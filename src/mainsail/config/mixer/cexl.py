"""CEXL, Mixer's expression language: a subset of Go expressions over attributes.

``parse(text)`` gives a frozen syntax tree or raises ``CexlError`` naming the column and what is
wrong. Precedence is Go's: ``||`` < ``&&`` < comparisons < ``|`` and ``+`` < unary < postfix
(selectors, ``[key]``, calls), so ``a | "x" == "y"`` is ``(a | "x") == "y"`` as in Mixer.
Dotted names that are not method calls are one attribute (``context.reporter.kind``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mainsail.config.mixer.attributes import ValueType


class CexlError(ValueError):
    """An expression Mixer would refuse; ``column`` is 1-based."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal:
    value: str | int | float | bool
    type: ValueType
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribute:
    name: str
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    target: Expr
    key: Expr
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """``name(args)`` or, with ``receiver``, ``receiver.name(args)``."""

    name: str
    args: tuple[Expr, ...]
    receiver: Expr | None
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    column: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Unary:
    op: str
    operand: Expr
    column: int


Expr = Literal | Attribute | Index | Call | Binary | Unary

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      |(?P<float>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
      |(?P<int>\d+)
      |(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>\|\||&&|==|!=|<=|>=|[|+<>!().,\[\]-])""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # float, int, string, ident, op, end
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            hint = (
                " (a Go character literal; CEXL strings use double quotes)" if char == "'" else ""
            )
            raise CexlError(at + 1, f"unexpected character {char!r}{hint}")
        kind = match.lastgroup or ""
        if kind != "space":
            found.append(_Token(kind, match.group(), at + 1))
        at = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    if token.text.startswith("`"):
        return body
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    i = 0
    while i < len(body):
        if body[i] == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in escapes:
                raise CexlError(token.column + i + 1, f"unknown escape \\{nxt} in string")
            out.append(escapes[nxt])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.take()
        if token.text != text or token.kind not in ("op",):
            seen = token.text or "end of expression"
            raise CexlError(token.column, f"expected {text!r}, found {seen!r}")
        return token

    def is_op(self, *ops: str) -> bool:
        return self.peek.kind == "op" and self.peek.text in ops

    def expression(self) -> Expr:
        left = self.conjunction()
        while self.is_op("||"):
            op = self.take()
            left = Binary(op="||", left=left, right=self.conjunction(), column=op.column)
        return left

    def conjunction(self) -> Expr:
        left = self.comparison()
        while self.is_op("&&"):
            op = self.take()
            left = Binary(op="&&", left=left, right=self.comparison(), column=op.column)
        return left

    def comparison(self) -> Expr:
        left = self.additive()
        while self.is_op(*_COMPARISONS):
            op = self.take()
            left = Binary(op=op.text, left=left, right=self.additive(), column=op.column)
        return left

    def additive(self) -> Expr:
        left = self.unary()
        while self.is_op("|", "+"):
            op = self.take()
            left = Binary(op=op.text, left=left, right=self.unary(), column=op.column)
        return left

    def unary(self) -> Expr:
        if self.is_op("!", "-"):
            op = self.take()
            return Unary(op=op.text, operand=self.unary(), column=op.column)
        return self.postfix()

    def arguments(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        if not self.is_op(")"):
            args.append(self.expression())
            while self.is_op(","):
                self.take()
                args.append(self.expression())
        self.expect(")")
        return tuple(args)

    def postfix(self) -> Expr:
        expr = self.primary()
        while True:
            if self.is_op("["):
                bracket = self.take()
                key = self.expression()
                self.expect("]")
                expr = Index(target=expr, key=key, column=bracket.column)
            elif self.is_op("."):
                self.take()
                name = self.take()
                if name.kind != "ident":
                    raise CexlError(name.column, f"expected a name after '.', found {name.text!r}")
                if self.is_op("("):
                    args = self.arguments()
                    expr = Call(name=name.text, args=args, receiver=expr, column=name.column)
                elif isinstance(expr, Attribute):
                    expr = Attribute(name=f"{expr.name}.{name.text}", column=expr.column)
                else:
                    raise CexlError(name.column, f"cannot select .{name.text} from a value")
            else:
                return expr

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "string":
            return Literal(value=_unquote(token), type=ValueType.STRING, column=token.column)
        if token.kind == "int":
            return Literal(value=int(token.text), type=ValueType.INT64, column=token.column)
        if token.kind == "float":
            return Literal(value=float(token.text), type=ValueType.DOUBLE, column=token.column)
        if token.kind == "ident":
            if token.text in ("true", "false"):
                return Literal(value=token.text == "true", type=ValueType.BOOL, column=token.column)
            if self.is_op("("):
                return Call(
                    name=token.text, args=self.arguments(), receiver=None, column=token.column
                )
            return Attribute(name=token.text, column=token.column)
        if token.kind == "op" and token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        seen = token.text or "end of expression"
        raise CexlError(token.column, f"expected a value, found {seen!r}")


def parse(text: str) -> Expr:
    """The syntax tree of one CEXL expression."""
    if not text.strip():
        raise CexlError(1, "empty expression")
    parser = _Parser(text)
    expr = parser.expression()
    if parser.peek.kind != "end":
        raise CexlError(parser.peek.column, f"unexpected {parser.peek.text!r} after the expression")
    return expr
