"""Sidecar rules (istiod ``validateSidecar``; reference §9)."""

from __future__ import annotations

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.validation.destination_rule import check_connection_pool
from mainsail.config.validation.gateway import check_server_tls
from mainsail.config.validation.rules import (
    Findings,
    check_labels,
    check_port,
    check_port_name,
    check_protocol,
    is_ip,
    is_namespace_name,
    wildcard_domain_problem,
)


def _check_egress_host(f: Findings, path: str, host: str) -> None:
    ns, slash, name = host.partition("/")
    if not slash:
        f.add(
            path, f"egress host {host!r} must be written 'namespace/dnsName'", ErrorCode.SC_EGRESS
        )
        return
    if ns not in ("*", ".", "~") and not is_namespace_name(ns):
        f.add(path, f"namespace {ns!r} must be '*', '.', '~' or a namespace", ErrorCode.SC_EGRESS)
    problem = wildcard_domain_problem(name)
    if problem:
        f.add(path, f"invalid host {name!r}: {problem}", ErrorCode.SC_EGRESS)


def _check_endpoint(f: Findings, path: str, endpoint: str) -> None:
    if endpoint.startswith("unix://"):
        if not endpoint[len("unix://") :].startswith(("/", "@")):
            f.add(path, f"{endpoint!r} is not an absolute unix socket path", ErrorCode.SC_INGRESS)
        return
    host, _, port = endpoint.rpartition(":")
    if host not in ("127.0.0.1", "0.0.0.0", "[::1]", "[::]") or not port.isdigit():
        f.add(
            path,
            "defaultEndpoint must be 127.0.0.1:<port>, 0.0.0.0:<port> or unix://<path>",
            ErrorCode.SC_INGRESS,
        )
    elif not 1 <= int(port) <= 65535:
        f.add(path, f"port {port} must be in the range 1..65535", ErrorCode.PORT)


def _check_bind(f: Findings, path: str, bind: str | None, binds: set[str]) -> None:
    if not bind:
        return
    if bind.startswith("unix://"):
        if bind in binds:
            f.add(path, f"unix socket {bind!r} is bound twice", ErrorCode.SC_BIND)
        binds.add(bind)
    elif not is_ip(bind):
        f.add(path, f"{bind!r} must be an IP address or unix:// path", ErrorCode.SC_BIND)


def validate_sidecar(sc: Sidecar) -> list[ConfigError]:
    spec = sc.spec
    f = Findings()
    if spec.workload_selector is not None:
        check_labels(
            f, "spec.workloadSelector.labels", spec.workload_selector.labels, selector=True
        )
    binds: set[str] = set()
    ports: set[int] = set()
    for i, listener in enumerate(spec.ingress):
        path = f"spec.ingress[{i}]"
        port = listener.port
        check_port(f, f"{path}.port.number", port.number, required=True)
        if port.number is not None:
            if port.number in ports:
                f.add(
                    f"{path}.port.number",
                    f"duplicate ingress port {port.number}",
                    ErrorCode.SC_INGRESS,
                )
            ports.add(port.number)
        check_port_name(f, f"{path}.port.name", port.name)
        check_protocol(f, f"{path}.port.protocol", port.protocol)
        if listener.default_endpoint:
            _check_endpoint(f, f"{path}.defaultEndpoint", listener.default_endpoint)
        _check_bind(f, f"{path}.bind", listener.bind, binds)
        if listener.tls is not None:
            check_server_tls(f, f"{path}.tls", listener.tls)
        if listener.connection_pool is not None:
            check_connection_pool(f, f"{path}.connectionPool", listener.connection_pool)
    portless = [i for i, e in enumerate(spec.egress) if e.port is None or e.port.number is None]
    if len(portless) > 1:
        f.add("spec.egress", "only one egress listener may omit the port", ErrorCode.SC_EGRESS)
    if portless and portless[-1] != len(spec.egress) - 1:
        f.add(
            f"spec.egress[{portless[-1]}]",
            "the egress listener without a port must be the last one",
            ErrorCode.SC_EGRESS,
        )
    for i, egress in enumerate(spec.egress):
        path = f"spec.egress[{i}]"
        if not egress.hosts:
            f.add(f"{path}.hosts", "an egress egress needs at least one host", ErrorCode.SC_EGRESS)
        for j, host in enumerate(egress.hosts):
            _check_egress_host(f, f"{path}.hosts[{j}]", host)
        if egress.port is not None:
            check_port(f, f"{path}.port.number", egress.port.number)
            check_port_name(f, f"{path}.port.name", egress.port.name)
            check_protocol(f, f"{path}.port.protocol", egress.port.protocol)
        _check_bind(f, f"{path}.bind", egress.bind, binds)
        if egress.bind and egress.bind.startswith("unix://") and egress.capture_mode != "NONE":
            f.add(
                f"{path}.captureMode",
                "a unix socket bind needs captureMode NONE",
                ErrorCode.SC_BIND,
            )
    if spec.inbound_connection_pool is not None:
        check_connection_pool(f, "spec.inboundConnectionPool", spec.inbound_connection_pool)
    otp = spec.outbound_traffic_policy
    if otp is not None and otp.egress_proxy is not None:
        if otp.mode != "ALLOW_ANY":
            f.add(
                "spec.outboundTrafficPolicy.egressProxy",
                "egressProxy needs mode ALLOW_ANY",
                ErrorCode.SC_OUTBOUND,
            )
        proxy_port = otp.egress_proxy.port
        number = proxy_port.number if proxy_port else None
        check_port(f, "spec.outboundTrafficPolicy.egressProxy.port.number", number)
    return f.items
