"""ServiceEntry rules (istiod ``validateServiceEntry``; reference §9)."""

from __future__ import annotations

import ipaddress

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.validation.rules import (
    HTTP_PROTOCOLS,
    TLS_PROTOCOLS,
    Findings,
    check_export_to,
    check_labels,
    check_port,
    check_port_name,
    check_protocol,
    dns_name_problem,
    is_cidr,
    is_ip,
    wildcard_domain_problem,
)
from mainsail.config.validation.workloads import check_workload_entry


def _is_wide_cidr(address: str) -> bool:
    if "/" not in address:
        return False
    net = ipaddress.ip_network(address, strict=False)
    return net.prefixlen != net.max_prefixlen


def validate_service_entry(se: ServiceEntry) -> list[ConfigError]:
    spec = se.spec
    f = Findings()
    resolution = spec.resolution or "NONE"
    for i, host in enumerate(spec.hosts):
        path = f"spec.hosts[{i}]"
        if host == "*":
            f.add(path, "host '*' is not allowed in a ServiceEntry", ErrorCode.SE_HOSTS)
            continue
        problem = wildcard_domain_problem(host)
        if problem:
            f.add(path, f"invalid host {host!r}: {problem}", ErrorCode.SE_HOSTS)
        if resolution == "DYNAMIC_DNS" and not host.startswith("*."):
            f.add(
                path, "DYNAMIC_DNS needs wildcard hosts ('*.example.com')", ErrorCode.SE_RESOLUTION
            )
        if resolution in ("DNS", "DNS_ROUND_ROBIN") and not spec.endpoints and host.startswith("*"):
            f.add(
                path,
                f"hosts must be FQDNs when {resolution} resolution has no endpoints",
                ErrorCode.SE_RESOLUTION,
            )
    for i, address in enumerate(spec.addresses):
        path = f"spec.addresses[{i}]"
        if not is_cidr(address):
            f.add(path, f"{address!r} is not an IP address or CIDR", ErrorCode.SE_ADDRESSES)
        elif _is_wide_cidr(address) and resolution not in ("NONE", "STATIC"):
            f.add(
                path,
                "CIDR addresses are only allowed with NONE or STATIC resolution",
                ErrorCode.SE_ADDRESSES,
            )
    check_export_to(f, "spec.exportTo", spec.export_to)
    names: set[str] = set()
    numbers: set[int] = set()
    for i, port in enumerate(spec.ports):
        path = f"spec.ports[{i}]"
        check_port(f, f"{path}.number", port.number)
        if port.target_port:
            check_port(f, f"{path}.targetPort", port.target_port)
        check_port_name(f, f"{path}.name", port.name)
        check_protocol(f, f"{path}.protocol", port.protocol)
        if port.name in names:
            f.add(f"{path}.name", f"duplicate port name {port.name!r}", ErrorCode.SE_PORTS)
        if port.number in numbers:
            f.add(f"{path}.number", f"duplicate port number {port.number}", ErrorCode.SE_PORTS)
        names.add(port.name)
        numbers.add(port.number)
    if spec.workload_selector is not None:
        if spec.endpoints:
            f.add(
                "spec.workloadSelector",
                "only one of workloadSelector and endpoints may be set",
                ErrorCode.SE_SELECTOR,
            )
        check_labels(
            f, "spec.workloadSelector.labels", spec.workload_selector.labels, selector=True
        )
    _check_endpoints(f, se, resolution, names)
    if len(spec.hosts) > 1 and not spec.addresses and resolution == "NONE":
        for i, port in enumerate(spec.ports):
            proto = (port.protocol or "").upper()
            if proto not in HTTP_PROTOCOLS | TLS_PROTOCOLS:
                f.add(
                    f"spec.ports[{i}].protocol",
                    "several hosts without addresses need HTTP or TLS ports",
                    ErrorCode.SE_PORTS,
                )
    return f.items


def _check_endpoints(f: Findings, se: ServiceEntry, resolution: str, port_names: set[str]) -> None:
    spec = se.spec
    if resolution == "NONE" and spec.endpoints:
        f.add(
            "spec.endpoints",
            "endpoints cannot be given with resolution NONE",
            ErrorCode.SE_ENDPOINT,
        )
    if resolution == "DYNAMIC_DNS" and spec.endpoints:
        f.add(
            "spec.endpoints",
            "endpoints cannot be given with resolution DYNAMIC_DNS",
            ErrorCode.SE_ENDPOINT,
        )
    if resolution == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
        f.add(
            "spec.endpoints", "DNS_ROUND_ROBIN allows at most one endpoint", ErrorCode.SE_ENDPOINT
        )
    if resolution == "STATIC" and not spec.endpoints and spec.workload_selector is None:
        f.warn(
            "spec.endpoints",
            "STATIC resolution without endpoints or workloadSelector has no endpoints",
            ErrorCode.SE_ENDPOINT,
        )
    for i, ep in enumerate(spec.endpoints):
        path = f"spec.endpoints[{i}]"
        f.items.extend(check_workload_entry(ep, path))
        address = ep.address or ""
        if address and not address.startswith("unix://"):
            if resolution == "STATIC" and not is_ip(address):
                f.add(
                    f"{path}.address",
                    f"STATIC endpoints need IP addresses, not {address!r}",
                    ErrorCode.SE_ENDPOINT,
                )
            elif (
                resolution in ("DNS", "DNS_ROUND_ROBIN")
                and not is_ip(address)
                and dns_name_problem(address)
            ):
                f.add(
                    f"{path}.address",
                    f"{address!r} is not an IP address or DNS name",
                    ErrorCode.SE_ENDPOINT,
                )
        for name in ep.ports:
            if port_names and name not in port_names:
                f.add(
                    f"{path}.ports[{name}]",
                    f"port {name!r} is not declared in spec.ports",
                    ErrorCode.SE_ENDPOINT,
                )
