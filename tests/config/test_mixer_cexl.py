"""CEXL: parsing, Mixer's type rules, the errors' columns, and compilation to CEL/formatters."""

from __future__ import annotations

import pytest

from mainsail.config.mixer.attributes import ValueType
from mainsail.config.mixer.cel import placeholder_sources, to_cel, to_format
from mainsail.config.mixer.cexl import Attribute, Binary, Call, CexlError, Index, parse
from mainsail.config.mixer.check import check
from mainsail.config.mixer.fold import Constant, fold

PROMHTTP = (
    '(context.protocol == "http" || context.protocol == "grpc") && '
    '(match((request.useragent | "-"), "kube-probe*") == false)'
)


def test_precedence_is_go_s() -> None:
    expr = parse('a.b | "x" == "y" && c.d')
    assert isinstance(expr, Binary) and expr.op == "&&"
    assert isinstance(expr.left, Binary) and expr.left.op == "=="
    assert isinstance(expr.left.left, Binary) and expr.left.left.op == "|"


def test_dotted_names_are_one_attribute_and_methods_are_calls() -> None:
    expr = parse('request.headers["x-user"].startsWith("a")')
    assert isinstance(expr, Call) and expr.name == "startsWith"
    assert isinstance(expr.receiver, Index)
    assert expr.receiver.target == Attribute(name="request.headers", column=1)


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        (PROMHTTP, ValueType.BOOL),
        (
            'conditional((context.reporter.kind | "inbound") == "outbound", "source", "x")',
            ValueType.STRING,
        ),
        ('source.labels["app"] | source.service | "unknown"', ValueType.STRING),
        ('response.duration | "0ms"', ValueType.DURATION),
        ("response.code | 200", ValueType.INT64),
        ("connection.mtls | false", ValueType.BOOL),
        ('ip("10.0.0.1") == source.ip', ValueType.BOOL),
        ('timestamp("2015-01-02T15:04:35Z") < request.time', ValueType.BOOL),
        ('email("a@b.c")', ValueType.EMAIL_ADDRESS),
        ('dnsName("a.b")', ValueType.DNS_NAME),
        ('uri("http://a")', ValueType.URI),
        ("size(toLower(request.path)) > 3", ValueType.BOOL),
        ('"^/api".matches(request.path) || request.path.endsWith(".js")', ValueType.BOOL),
        ("!(connection.mtls | false) != true", ValueType.BOOL),
        ("emptyStringMap()", ValueType.STRING_MAP),
    ],
)
def test_types(text: str, wanted: ValueType) -> None:
    assert check(text)[1] is wanted


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("request.userAgent", 1, "unknown attribute 'request.userAgent'"),
        ('source.labels["app"] | 3', 22, "'|' needs one type on both sides: STRING | INT64"),
        ('response.code == "200"', 15, "cannot compare INT64 == STRING"),
        ("request.path && true", 1, "&& needs BOOL operands, not STRING"),
        ('request.size["a"]', 13, "only a STRING_MAP can be indexed, not INT64"),
        ("match(request.path)", 1, "match() takes 2 argument(s), got 1"),
        ("frobnicate(1)", 1, "unknown function frobnicate()"),
        ("request.path.shout()", 14, "unknown method .shout()"),
        ('conditional(true, "a", 1)', 1, "conditional() branches differ: STRING and INT64"),
        ("request.path ==", 16, "expected a value, found 'end of expression'"),
        ("(request.path", 14, "expected ')', found 'end of expression'"),
        ("'warning'", 1, 'unexpected character "\'"'),
        ('request.path "x"', 14, "unexpected '\"x\"' after the expression"),
        ("", 1, "empty expression"),
    ],
)
def test_errors_name_column_and_reason(text: str, column: int, reason: str) -> None:
    with pytest.raises(CexlError) as raised:
        check(text)
    assert raised.value.column == column
    assert reason in raised.value.message


def test_required_type() -> None:
    with pytest.raises(CexlError, match="expression is STRING, BOOL is required"):
        check("request.path", ValueType.BOOL)


def test_compiles_to_cel() -> None:
    sources = {"context.protocol": "'tcp'"}
    expr = check(PROMHTTP)[0]
    assert to_cel(expr, sources) == (
        "((('tcp' == \"http\") || ('tcp' == \"grpc\")) && "
        '((has(request.useragent) ? request.useragent : "-").startsWith("kube-probe") == false))'
    )
    header = check('request.headers["x-user"] | "anon"')[0]
    assert (
        to_cel(header, {}) == '(("x-user" in request.headers) ? request.headers["x-user"] : "anon")'
    )


def test_values_prefer_formatters() -> None:
    assert to_format(check("connection.sent.bytes | 0")[0], {}) == "%BYTES_SENT%"
    assert to_format(check('response.duration | "0ms"')[0], {}) == "%DURATION%"
    assert to_format(check('"100%"')[0], {}) == "100%%"
    assert to_format(check('request.path.startsWith("/a")')[0], {}) == (
        '%CEL(request.path.startsWith("/a"))%'
    )


def test_an_attribute_envoy_never_has_takes_the_default_or_is_refused() -> None:
    # Mixer: an attribute the proxy never reports is absent, so ``|`` falls through.
    sources = placeholder_sources()
    assert to_cel(check('api.protocol | "none"')[0], sources) == '"none"'
    with pytest.raises(CexlError, match=r"'check\.error_code' has no Envoy equivalent"):
        to_cel(check("check.error_code == 3")[0], sources)


def test_folding_known_attributes() -> None:
    constants: dict[str, Constant] = {
        "context.reporter.kind": "outbound",
        "context.protocol": frozenset({"http", "grpc"}),
        "source.labels": {"app": "productpage"},
    }
    reporter = check(
        'conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")'
    )[0]
    assert to_format(fold(reporter, constants), {}) == "source"
    app = check('source.labels["app"] | "unknown"')[0]
    assert to_format(fold(app, constants), {}) == "productpage"
    version = check('source.labels["version"] | "unknown"')[0]
    assert to_format(fold(version, constants), {}) == "unknown"
    tcp_only = fold(check('context.protocol == "tcp"')[0], constants)
    assert to_format(tcp_only, {}) == "false"
    # On an HCM the protocol is http or grpc: the rule stays a run-time CEL filter.
    http = fold(check(PROMHTTP)[0], constants)
    assert to_cel(http, {"context.protocol": "PROTO"}).startswith('(((PROTO == "http")')
    assert to_format(fold(check(PROMHTTP)[0], {"context.protocol": "tcp"}), {}) == "false"
