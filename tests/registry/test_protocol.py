"""Port protocol detection, as istiod infers it (reference §1.5)."""

from __future__ import annotations

import pytest

from mainsail.registry.protocol import Protocol, parse_protocol, protocol_of_kube_port

KUBE_PORTS = [
    # (name, port, transport, appProtocol) → protocol
    (("http", 80, "TCP", None), Protocol.HTTP),
    (("http-web", 8080, "TCP", None), Protocol.HTTP),
    (("HTTP2-api", 8080, "TCP", None), Protocol.HTTP2),
    (("grpc", 9090, "TCP", None), Protocol.GRPC),
    (("grpc-web", 9090, "TCP", None), Protocol.GRPC_WEB),
    (("grpc-web-x", 9090, "TCP", None), Protocol.GRPC_WEB),
    (("https-admin", 443, "TCP", None), Protocol.HTTPS),
    (("tls", 443, "TCP", None), Protocol.TLS),
    (("tcp-db", 5432, "TCP", None), Protocol.TCP),
    (("mongo", 27017, "TCP", None), Protocol.MONGO),
    (("redis-cache", 6379, "TCP", None), Protocol.REDIS),
    (("mysql", 3306, "TCP", None), Protocol.MYSQL),
    (("http_proxy", 3128, "TCP", None), Protocol.HTTP_PROXY),
    (("web", 80, "TCP", None), Protocol.UNSUPPORTED),  # unknown prefix: sniffed
    ((None, 8080, "TCP", None), Protocol.UNSUPPORTED),
    (("httpx", 80, "TCP", None), Protocol.UNSUPPORTED),  # prefix up to the first '-' only
    # server-first ports default to TCP when the name says nothing
    ((None, 25, "TCP", None), Protocol.TCP),
    (("smtp", 25, "TCP", None), Protocol.TCP),
    ((None, 53, "TCP", None), Protocol.TCP),
    ((None, 3306, "TCP", None), Protocol.TCP),
    ((None, 27017, "TCP", None), Protocol.TCP),
    (("http", 3306, "TCP", None), Protocol.HTTP),  # an explicit name still wins
    # appProtocol replaces the name
    (("web", 80, "TCP", "http"), Protocol.HTTP),
    (("http", 80, "TCP", "grpc"), Protocol.GRPC),
    (("x", 80, "TCP", "kubernetes.io/h2c"), Protocol.HTTP2),
    (("x", 80, "TCP", "kubernetes.io/ws"), Protocol.HTTP),
    (("x", 443, "TCP", "kubernetes.io/wss"), Protocol.HTTPS),
    (("http", 80, "TCP", "something-else"), Protocol.UNSUPPORTED),
    # UDP is UDP whatever the name
    (("http", 53, "UDP", None), Protocol.UDP),
]


@pytest.mark.parametrize(("args", "expected"), KUBE_PORTS)
def test_kube_port_protocol(
    args: tuple[str | None, int, str, str | None], expected: Protocol
) -> None:
    name, port, transport, app_protocol = args
    got = protocol_of_kube_port(
        name=name, port=port, transport=transport, app_protocol=app_protocol
    )
    assert got is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTP", Protocol.HTTP),
        ("http2", Protocol.HTTP2),
        ("GRPC-WEB", Protocol.GRPC_WEB),
        ("TLS", Protocol.TLS),
        (" tcp ", Protocol.TCP),
        ("", Protocol.UNSUPPORTED),
        ("SCTP", Protocol.UNSUPPORTED),
    ],
)
def test_explicit_protocol(text: str, expected: Protocol) -> None:
    assert parse_protocol(text) is expected


def test_protocol_classes() -> None:
    http_like = {p for p in Protocol if p.is_http}
    assert http_like == {
        Protocol.HTTP,
        Protocol.HTTP2,
        Protocol.HTTP_PROXY,
        Protocol.GRPC,
        Protocol.GRPC_WEB,
    }
    assert {p for p in Protocol if p.is_tls} == {Protocol.HTTPS, Protocol.TLS}
    assert {p for p in Protocol if p.is_http2} == {Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB}
    assert Protocol.MONGO.is_tcp and not Protocol.UNSUPPORTED.is_tcp
    assert not Protocol.UNSUPPORTED.is_http and not Protocol.UDP.is_tcp
