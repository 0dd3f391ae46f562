"""Gateway rules (istiod ``validateGateway``/``validateServer``; reference §9).

``check_server_tls`` is shared with Sidecar ingress listeners.
"""

from __future__ import annotations

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.gateway import Gateway, Server, ServerTLSSettings
from mainsail.config.validation.rules import (
    TLS_PROTOCOLS,
    Findings,
    check_labels,
    check_port,
    check_protocol,
    is_ip,
    is_namespace_name,
    wildcard_domain_problem,
)

_TLS_ORDER = ("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")


def validate_gateway(gw: Gateway) -> list[ConfigError]:
    f = Findings()
    spec = gw.spec
    if not spec.servers:
        f.add("spec.servers", "a Gateway needs at least one server", ErrorCode.GW_SERVERS)
    check_labels(f, "spec.selector", spec.selector)
    names: set[str] = set()
    for i, server in enumerate(spec.servers):
        path = f"spec.servers[{i}]"
        _check_server(f, path, server)
        if server.port.name in names:
            f.add(
                f"{path}.port.name",
                f"duplicate port name {server.port.name!r}",
                ErrorCode.PORT_NAME,
            )
        names.add(server.port.name)
    return f.items


def _check_server_host(f: Findings, path: str, host: str) -> None:
    ns, slash, name = host.partition("/")
    if not slash:
        ns, name = "", host
    elif not ns or (ns not in ("*", ".", "~") and not is_namespace_name(ns)):
        f.add(
            path,
            f"namespace {ns!r} in {host!r} must be '*', '.', '~' or a namespace",
            ErrorCode.GW_SERVER_HOSTS,
        )
    if is_ip(name):
        return
    problem = wildcard_domain_problem(name)
    if problem:
        f.add(path, f"invalid host {host!r}: {problem}", ErrorCode.GW_SERVER_HOSTS)


def _check_server(f: Findings, path: str, server: Server) -> None:
    if not server.hosts:
        f.add(f"{path}.hosts", "a server needs at least one host", ErrorCode.GW_SERVER_HOSTS)
    for i, host in enumerate(server.hosts):
        _check_server_host(f, f"{path}.hosts[{i}]", host)
    port = server.port
    check_port(f, f"{path}.port.number", port.number)
    if port.target_port:
        check_port(f, f"{path}.port.targetPort", port.target_port)
    if not port.name:
        f.add(f"{path}.port.name", "port name is required", ErrorCode.PORT_NAME)
    check_protocol(f, f"{path}.port.protocol", port.protocol)
    if not port.protocol:
        f.add(f"{path}.port.protocol", "protocol is required", ErrorCode.PROTOCOL)
    if server.bind:
        bind = server.bind
        if bind.startswith("unix://"):
            if not bind[len("unix://") :].startswith(("/", "@")):
                f.add(
                    f"{path}.bind",
                    f"{bind!r} is not an absolute unix socket path",
                    ErrorCode.GW_BIND,
                )
        elif not is_ip(bind):
            f.add(
                f"{path}.bind", f"{bind!r} must be an IP address or unix:// path", ErrorCode.GW_BIND
            )
    is_tls_port = port.protocol.upper() in TLS_PROTOCOLS
    if server.tls is None:
        if is_tls_port:
            f.add(f"{path}.tls", f"a {port.protocol} server needs tls settings", ErrorCode.GW_TLS)
        return
    if not is_tls_port and not server.tls.https_redirect:
        f.add(
            f"{path}.tls",
            f"tls settings are only allowed on HTTPS/TLS ports (or with httpsRedirect), not {port.protocol}",
            ErrorCode.GW_TLS,
        )
    if is_tls_port:
        check_server_tls(f, f"{path}.tls", server.tls)


def check_server_tls(f: Findings, path: str, tls: ServerTLSSettings) -> None:
    mode = tls.mode or "PASSTHROUGH"
    files = bool(tls.server_certificate or tls.private_key)
    credentials = bool(tls.credential_name or tls.credential_names)
    if mode == "ISTIO_MUTUAL":
        for name, value in (
            ("serverCertificate", tls.server_certificate),
            ("privateKey", tls.private_key),
            ("caCertificates", tls.ca_certificates),
            ("credentialName", tls.credential_name),
        ):
            if value:
                f.add(
                    f"{path}.{name}",
                    f"{name} cannot be set with mode ISTIO_MUTUAL",
                    ErrorCode.GW_TLS,
                )
    if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"):
        if tls.credential_names and (tls.credential_name or tls.tls_certificates):
            f.add(
                path,
                "credentialNames cannot be combined with credentialName or tlsCertificates",
                ErrorCode.GW_TLS,
            )
        if credentials and files:
            f.add(
                path,
                "use either credentialName(s) or certificate files, not both",
                ErrorCode.GW_TLS,
            )
        if not credentials and not tls.tls_certificates:
            if not tls.server_certificate:
                f.add(
                    f"{path}.serverCertificate",
                    f"{mode} TLS needs serverCertificate or credentialName",
                    ErrorCode.GW_TLS,
                )
            if not tls.private_key:
                f.add(
                    f"{path}.privateKey",
                    f"{mode} TLS needs privateKey or credentialName",
                    ErrorCode.GW_TLS,
                )
            if mode != "SIMPLE" and not tls.ca_certificates:
                f.add(
                    f"{path}.caCertificates",
                    f"{mode} TLS needs caCertificates or credentialName",
                    ErrorCode.GW_TLS,
                )
    low, high = tls.min_protocol_version, tls.max_protocol_version
    if (
        low
        and high
        and low != "TLS_AUTO"
        and high != "TLS_AUTO"
        and _TLS_ORDER.index(low) > _TLS_ORDER.index(high)
    ):
        f.add(
            f"{path}.minProtocolVersion",
            "minProtocolVersion is above maxProtocolVersion",
            ErrorCode.GW_TLS,
        )
