"""WorkloadEntry and WorkloadGroup rules (istiod ``validateWorkloadEntry``/``WorkloadGroup`` and the
CRD's CEL rules). ``check_workload_entry`` also validates ServiceEntry endpoints.
"""

from __future__ import annotations

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.workload_entry import WorkloadEntry, WorkloadEntrySpec
from mainsail.config.istio.workload_group import WorkloadGroup
from mainsail.config.validation.rules import (
    Findings,
    check_labels,
    check_port,
    dns_name_problem,
    is_dns1123_label,
    is_ip,
)


def check_workload_entry(spec: WorkloadEntrySpec, path: str) -> list[ConfigError]:
    f = Findings()
    address = spec.address
    if not address and not spec.network:
        f.add(path, "address or network is required", ErrorCode.WE_ADDRESS)
    if address and address.startswith("unix://"):
        socket = address[len("unix://") :]
        if not socket.startswith(("/", "@")) or socket.endswith("/"):
            f.add(f"{path}.address", f"{address!r} is not a unix socket path", ErrorCode.WE_ADDRESS)
        if spec.ports:
            f.add(
                f"{path}.ports",
                "ports cannot be given for a unix socket address",
                ErrorCode.WE_PORTS,
            )
    elif address and not is_ip(address) and dns_name_problem(address):
        f.add(
            f"{path}.address", f"{address!r} is not an IP address or DNS name", ErrorCode.WE_ADDRESS
        )
    for name, number in spec.ports.items():
        if not is_dns1123_label(name):
            f.add(
                f"{path}.ports[{name}]",
                f"port name {name!r} must be a DNS-1123 label",
                ErrorCode.PORT_NAME,
            )
        check_port(f, f"{path}.ports[{name}]", number)
    check_labels(f, f"{path}.labels", spec.labels)
    return f.items


def validate_workload_entry(we: WorkloadEntry) -> list[ConfigError]:
    return check_workload_entry(we.spec, "spec")


def validate_workload_group(wg: WorkloadGroup) -> list[ConfigError]:
    f = Findings()
    template = wg.spec.template
    # The template's address comes from the registering VM, so it may be left out.
    if template.address or template.network:
        f.items.extend(check_workload_entry(template, "spec.template"))
    else:
        check_labels(f, "spec.template.labels", template.labels)
    if wg.spec.metadata is not None:
        check_labels(f, "spec.metadata.labels", wg.spec.metadata.labels)
    probe = wg.spec.probe
    if probe is not None:
        if not (probe.http_get or probe.tcp_socket or probe.exec or probe.grpc):
            f.add(
                "spec.probe", "a probe needs httpGet, tcpSocket, exec or grpc", ErrorCode.WG_PROBE
            )
        if probe.http_get is not None:
            check_port(f, "spec.probe.httpGet.port", probe.http_get.port)
            if probe.http_get.scheme not in (None, "", "HTTP", "HTTPS"):
                f.add(
                    "spec.probe.httpGet.scheme", "scheme must be HTTP or HTTPS", ErrorCode.WG_PROBE
                )
        if probe.tcp_socket is not None:
            check_port(f, "spec.probe.tcpSocket.port", probe.tcp_socket.port)
        if probe.grpc is not None:
            check_port(f, "spec.probe.grpc.port", probe.grpc.port, required=True)
        if probe.exec is not None and not probe.exec.command:
            f.add("spec.probe.exec.command", "exec probe needs a command", ErrorCode.WG_PROBE)
    return f.items
