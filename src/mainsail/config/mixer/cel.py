"""CEXL compiled to what Envoy evaluates per request: access-log formatter text
(``%BYTES_SENT%``, or ``%CEL(...)%``) and CEL expressions (access-log filters).

Pure string translation, no Envoy types: validation runs it at apply time (so a rule that
cannot be compiled is refused with the reason) and ``xds.mixer`` with per-proxy attribute
sources. An attribute compiles to CEL through ``sources`` (identity attributes differ per proxy
and reporter) or the fixed table ``CEL_ATTRIBUTES``; a whole value that is one attribute (with
an optional literal ``|`` default) may instead use a formatter (``FORMATTERS``): cheaper, and
the only way to reach TCP byte counts. What has neither is refused, naming the attribute.

Mixer's ``a | b`` (``a`` when present, else ``b``) becomes ``has(a) ? a : b`` for fields and
``'k' in m ? m['k'] : b`` for map entries: CEL, like Mixer, fails on a missing attribute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from mainsail.config.mixer.attributes import ValueType
from mainsail.config.mixer.cexl import (
    Attribute,
    Binary,
    Call,
    CexlError,
    Expr,
    Index,
    Literal,
    Unary,
)
from mainsail.config.mixer.check import type_of

# Mixer attribute → Envoy CEL attribute, the same on every proxy.
CEL_ATTRIBUTES: dict[str, str] = {
    "request.headers": "request.headers",
    "request.id": "request.id",
    "request.host": "request.host",
    "request.method": "request.method",
    "request.path": "request.path",
    "request.url_path": "request.url_path",
    "request.scheme": "request.scheme",
    "request.size": "request.size",
    "request.total_size": "request.total_size",
    "request.time": "request.time",
    "request.useragent": "request.useragent",
    "request.referer": "request.referer",
    "response.code": "response.code",
    "response.duration": "request.duration",
    "response.headers": "response.headers",
    "response.size": "response.size",
    "response.total_size": "response.total_size",
    "response.grpc_status": "string(response.grpc_status)",
    "connection.id": "string(connection.id)",
    "connection.mtls": "connection.mtls",
    "connection.requested_server_name": "connection.requested_server_name",
    "destination.port": "destination.port",
}

# Attributes with an access-log command operator (whole values only).
FORMATTERS: dict[str, str] = {
    "request.id": "%REQ(X-REQUEST-ID)%",
    "request.host": "%REQ(:AUTHORITY)%",
    "request.method": "%REQ(:METHOD)%",
    "request.path": "%REQ(:PATH)%",
    "request.useragent": "%REQ(USER-AGENT)%",
    "request.referer": "%REQ(REFERER)%",
    "request.size": "%BYTES_RECEIVED%",
    "request.total_size": "%DOWNSTREAM_WIRE_BYTES_RECEIVED%",
    "request.time": "%START_TIME%",
    "response.code": "%RESPONSE_CODE%",
    "response.duration": "%DURATION%",
    "response.size": "%BYTES_SENT%",
    "response.total_size": "%DOWNSTREAM_WIRE_BYTES_SENT%",
    "response.grpc_status": "%GRPC_STATUS_NUMBER%",
    "context.proxy_error_code": "%RESPONSE_FLAGS%",
    "connection.sent.bytes": "%BYTES_SENT%",
    "connection.sent.bytes_total": "%BYTES_SENT%",
    "connection.received.bytes": "%BYTES_RECEIVED%",
    "connection.received.bytes_total": "%BYTES_RECEIVED%",
    "connection.duration": "%DURATION%",
    "connection.requested_server_name": "%REQUESTED_SERVER_NAME%",
    "source.ip": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
    "destination.ip": "%UPSTREAM_HOST%",
}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$")
_DURATION_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}


def cel_string(value: str) -> str:
    """A CEL string literal (JSON's escapes are CEL's)."""
    return json.dumps(value)


def _literal(expr: Literal) -> str:
    if isinstance(expr.value, bool):
        return "true" if expr.value else "false"
    if isinstance(expr.value, str):
        return cel_string(expr.value)
    return repr(expr.value)


def _attribute(name: str, column: int, sources: Mapping[str, str]) -> str:
    found = sources.get(name) or CEL_ATTRIBUTES.get(name)
    if found is None:
        raise CexlError(column, f"attribute {name!r} has no Envoy equivalent in an expression")
    return found


def _present(expr: Expr, sources: Mapping[str, str]) -> str | None:
    """CEL that is true when ``expr`` can be evaluated (None: always, e.g. a constant)."""
    if isinstance(expr, Attribute):
        target = _attribute(expr.name, expr.column, sources)
        if target.startswith("string(") or not re.fullmatch(r"[\w.]+", target):
            inner = target.removeprefix("string(").removesuffix(")")
            return f"has({inner})" if re.fullmatch(r"[\w]+\.[\w.]+", inner) else None
        return f"has({target})" if "." in target else None
    if isinstance(expr, Index):
        if _entry(expr, sources) is not None:
            return None
        return f"({to_cel(expr.key, sources)} in {to_cel(expr.target, sources)})"
    return None


def entry_key(name: str, key: str) -> str:
    """The ``sources`` key of one map entry (``destination.labels[app]``): a proxy may supply
    a total CEL for an entry, e.g. the peer's ``app`` from the peer exchange."""
    return f"{name}[{key}]"


def _entry(expr: Index, sources: Mapping[str, str]) -> str | None:
    if isinstance(expr.target, Attribute) and isinstance(expr.key, Literal):
        return sources.get(entry_key(expr.target.name, str(expr.key.value)))
    return None


_CALLS = {
    "toLower": "{0}.lowerAscii()",
    "size": "size({0})",
    "ip": "{0}",
    "email": "{0}",
    "dnsName": "{0}",
    "uri": "{0}",
    "timestamp": "timestamp({0})",
}


def _call(expr: Call, sources: Mapping[str, str]) -> str:
    args = [to_cel(a, sources) for a in expr.args]
    if expr.receiver is not None:
        receiver = to_cel(expr.receiver, sources)
        return f"{receiver}.{expr.name}({', '.join(args)})"
    if expr.name == "conditional":
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if expr.name == "match":
        # Mixer's match: "pre*" prefix, "*suf" suffix, else equality.
        pattern = expr.args[1]
        if isinstance(pattern, Literal) and isinstance(pattern.value, str):
            text = pattern.value
            if text.endswith("*"):
                return f"{args[0]}.startsWith({cel_string(text[:-1])})"
            if text.startswith("*"):
                return f"{args[0]}.endsWith({cel_string(text[1:])})"
            return f"({args[0]} == {args[1]})"
        raise CexlError(pattern.column, "match() needs a literal pattern to compile into Envoy")
    if expr.name == "emptyStringMap":
        return "{}"
    template = _CALLS.get(expr.name)
    if template is None:
        raise CexlError(expr.column, f"{expr.name}() cannot be compiled into Envoy")
    return template.format(*args)


def _duration_literal(expr: Expr) -> str:
    """``"0ms"`` as a CEL duration (Mixer parsed a duration default from its text)."""
    assert isinstance(expr, Literal)
    text = str(expr.value)
    if _DURATION.match(text) is None:
        raise CexlError(expr.column, f'{text!r} is not a duration (e.g. "10ms")')
    return f"duration({cel_string(text)})"


def _never_produced(expr: Expr, sources: Mapping[str, str]) -> bool:
    name = expr.name if isinstance(expr, Attribute) else None
    return name is not None and name not in sources and name not in CEL_ATTRIBUTES


def to_cel(expr: Expr, sources: Mapping[str, str]) -> str:
    """The CEL expression Envoy evaluates for ``expr`` (already type-checked)."""
    if isinstance(expr, Literal):
        return _literal(expr)
    if isinstance(expr, Attribute):
        return _attribute(expr.name, expr.column, sources)
    if isinstance(expr, Index):
        entry = _entry(expr, sources)
        if entry is not None:
            return entry
        return f"{to_cel(expr.target, sources)}[{to_cel(expr.key, sources)}]"
    if isinstance(expr, Unary):
        return f"{expr.op}({to_cel(expr.operand, sources)})"
    if isinstance(expr, Call):
        return _call(expr, sources)
    if expr.op == "|" and _never_produced(expr.left, sources):
        # Mixer: an attribute the proxy never sends is absent, so ``|`` takes the default.
        return to_cel(expr.right, sources)
    left = to_cel(expr.left, sources)
    if expr.op == "|":
        if type_of(expr.left) is ValueType.DURATION and type_of(expr.right) is ValueType.STRING:
            right = _duration_literal(expr.right)
        else:
            right = to_cel(expr.right, sources)
        present = _present(expr.left, sources)
        return left if present is None else f"({present} ? {left} : {right})"
    return f"({left} {expr.op} {to_cel(expr.right, sources)})"


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def to_format(expr: Expr, sources: Mapping[str, str]) -> str:
    """Access-log formatter text for a value: a constant, one command operator, or
    ``%CEL(...)%``. A missing attribute with no ``|`` default prints Envoy's ``-``."""
    if isinstance(expr, Literal):
        if isinstance(expr.value, bool):
            return "true" if expr.value else "false"
        return _escape(str(expr.value))
    if (
        isinstance(expr, Binary)
        and expr.op == "|"
        and isinstance(expr.left, Attribute)
        and expr.left.name not in FORMATTERS
        and _never_produced(expr.left, sources)
    ):
        return to_format(expr.right, sources)
    head = expr.left if isinstance(expr, Binary) and expr.op == "|" else expr
    if (
        isinstance(head, Attribute)
        and head.name not in sources
        and head.name in FORMATTERS
        and (head is expr or (isinstance(expr, Binary) and isinstance(expr.right, Literal)))
    ):
        # A formatter prints "-" when the value is absent; the literal default is lost for
        # strings but numbers (sizes, durations) are always present on a finished request.
        return FORMATTERS[head.name]
    cel = to_cel(expr, sources)
    if ")%" in cel:
        raise CexlError(1, "the compiled CEL contains ')%', which ends Envoy's %CEL(...)% early")
    return f"%CEL({cel})%"


def duration_ms(text: str) -> float:
    """Milliseconds of a Go duration text such as ``"10ms"``."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration")
    return float(match.group(1)) * _DURATION_MS[match.group(2)]


# Attributes whose CEL differs per proxy (own workload constants, peer metadata, certificates,
# the reporter); ``xds.mixer`` supplies each of them for every proxy it compiles for.
IDENTITY_ATTRIBUTES: frozenset[str] = frozenset(
    {
        *(
            f"{side}.{field}"
            for side in ("source", "destination")
            for field in (
                "uid", "name", "namespace", "principal", "workload.uid", "workload.name",
                "workload.namespace", "labels", "service", "user", "serviceAccount", "owner",
            )
        ),
        "destination.service.host",
        "destination.service.name",
        "destination.service.namespace",
        "destination.service.uid",
        "context.protocol",
        "context.reporter.kind",
        "context.reporter.uid",
    }
)  # fmt: skip


def placeholder_sources() -> dict[str, str]:
    """Stand-ins for the per-proxy attributes, to check at apply time that an expression
    compiles at all (the per-proxy values only change constants)."""
    return {
        name: "{}" if name.endswith(".labels") else cel_string("unknown")
        for name in IDENTITY_ATTRIBUTES
    }
