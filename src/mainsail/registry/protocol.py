"""How Istio decides a port's protocol (reference §1.5): appProtocol, else the port-name prefix."""

from __future__ import annotations

from enum import StrEnum


class Protocol(StrEnum):
    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    HTTP_PROXY = "HTTP_PROXY"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-Web"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"
    MONGO = "Mongo"
    REDIS = "Redis"
    MYSQL = "MySQL"
    UNSUPPORTED = "UnsupportedProtocol"

    @property
    def is_http(self) -> bool:
        return self in _HTTP_LIKE

    @property
    def is_http2(self) -> bool:
        return self in (Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB)

    @property
    def is_tcp(self) -> bool:
        return self in _TCP_LIKE

    @property
    def is_tls(self) -> bool:
        return self in (Protocol.HTTPS, Protocol.TLS)


_HTTP_LIKE = frozenset(
    {Protocol.HTTP, Protocol.HTTP2, Protocol.HTTP_PROXY, Protocol.GRPC, Protocol.GRPC_WEB}
)
_TCP_LIKE = frozenset(
    {Protocol.TCP, Protocol.HTTPS, Protocol.TLS, Protocol.MONGO, Protocol.REDIS, Protocol.MYSQL}
)
_BY_NAME: dict[str, Protocol] = {
    "tcp": Protocol.TCP,
    "udp": Protocol.UDP,
    "grpc": Protocol.GRPC,
    "grpc-web": Protocol.GRPC_WEB,
    "http": Protocol.HTTP,
    "http_proxy": Protocol.HTTP_PROXY,
    "http2": Protocol.HTTP2,
    "https": Protocol.HTTPS,
    "tls": Protocol.TLS,
    "mongo": Protocol.MONGO,
    "redis": Protocol.REDIS,
    "mysql": Protocol.MYSQL,
}
_SERVER_FIRST_PORTS = frozenset({25, 53, 3306, 27017})
_APP_PROTOCOL_ALIASES = {
    "kubernetes.io/h2c": Protocol.HTTP2,
    "kubernetes.io/ws": Protocol.HTTP,
    "kubernetes.io/wss": Protocol.HTTPS,
}


def parse_protocol(text: str) -> Protocol:
    """An explicit protocol string (ServiceEntry/Gateway/Sidecar ports); empty means sniffed."""
    return _BY_NAME.get(text.strip().lower(), Protocol.UNSUPPORTED)


def protocol_of_kube_port(
    *, name: str | None, port: int, transport: str = "TCP", app_protocol: str | None = None
) -> Protocol:
    """A Kubernetes Service port's protocol, exactly as Istio infers it."""
    if transport.upper() == "UDP":
        return Protocol.UDP
    if app_protocol:
        alias = _APP_PROTOCOL_ALIASES.get(app_protocol.lower())
        if alias is not None:
            return alias
        return parse_protocol(app_protocol)
    if name:
        lowered = name.lower()
        if lowered.startswith("grpc-web"):
            return Protocol.GRPC_WEB
        found = _BY_NAME.get(lowered.split("-", 1)[0])
        if found is not None:
            return found
    if port in _SERVER_FIRST_PORTS:
        return Protocol.TCP
    return Protocol.UNSUPPORTED
