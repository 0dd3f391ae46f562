"""Checks shared by several kinds: hosts, DNS labels, ports, durations, regexes, exportTo, labels.

Each check appends to a ``Findings`` collector at a wire-form field path.

Regexes: Istio compiles them with RE2 (Go ``regexp``); we compile with Python ``re`` and also
reject the constructs RE2 does not have (look-around, backreferences, possessive quantifiers), so
an obviously bad pattern is refused here as it would be by istiod. Remaining gap: a few syntaxes
that only one of the two engines accepts (e.g. RE2's ``\\C``, Python's ``(?P=name)``
backreference by name is caught, but Unicode class names differ) may slip through either way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mainsail.config.errors import ConfigError, ErrorCode, Severity

_DNS1123_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_LOWER_DNS1123_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_HEADER_NAME = re.compile(r"^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?P=|\\[1-9]|[*+?}]\+")
MAX_REGEX_LENGTH = 1024

# Istio's protocol.Parse, case-insensitive; an empty protocol means "sniff".
PROTOCOLS = frozenset(
    {"TCP", "UDP", "GRPC", "GRPC-WEB", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS", "MONGO",
     "REDIS", "MYSQL"}
)  # fmt: skip
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


@dataclass
class Findings:
    """Collects the problems one validator finds (a local accumulator, never shared)."""

    items: list[ConfigError] = field(default_factory=list)

    def add(
        self, path: str, reason: str, code: ErrorCode, severity: Severity = "error"
    ) -> None:  # fmt: skip
        self.items.append(ConfigError(path=path, reason=reason, code=code, severity=severity))

    def warn(self, path: str, reason: str, code: ErrorCode) -> None:
        self.add(path, reason, code, "warning")


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and bool(_DNS1123_LABEL.match(value))


def is_namespace_name(value: str) -> bool:
    return len(value) <= 63 and bool(_LOWER_DNS1123_LABEL.match(value))


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def dns_name_problem(name: str) -> str | None:
    """Why ``name`` is not a DNS name (labels of letters, digits and dashes), or None."""
    if not name:
        return "must not be empty"
    if len(name) > 255:
        return "is longer than 255 characters"
    labels = name.split(".")
    for label in labels:
        if not is_dns1123_label(label):
            return f"label {label!r} is not a valid DNS label"
    if labels[-1].isdigit():
        return f"top level domain {labels[-1]!r} cannot be all-numeric"
    return None


def wildcard_domain_problem(host: str) -> str | None:
    """Istio's wildcard rule: ``*`` alone, or ``*.`` followed by a DNS name; else a DNS name."""
    if host == "*":
        return None
    if host.startswith("*"):
        if not host.startswith("*."):
            return "a wildcard must be the whole first label ('*.example.com')"
        return dns_name_problem(host[2:])
    if "*" in host:
        return "a wildcard is only allowed as the whole first label"
    return dns_name_problem(host)


def check_wildcard_host(
    f: Findings, path: str, host: str, code: ErrorCode, *, allow_ip: bool = False
) -> None:  # fmt: skip
    if allow_ip and is_ip(host):
        return
    problem = wildcard_domain_problem(host)
    if problem:
        f.add(path, f"invalid host {host!r}: {problem}", code)


def check_duration(f: Findings, path: str, value: timedelta | None) -> None:
    """Istio's ValidateDuration: at least 1ms, whole milliseconds."""
    if value is None:
        return
    if value < timedelta(milliseconds=1):
        f.add(path, "duration must be at least 1ms", ErrorCode.DURATION)
    elif value.microseconds % 1000:
        f.add(path, "only durations to millisecond precision are supported", ErrorCode.DURATION)


def check_port(f: Findings, path: str, number: int | None, *, required: bool = False) -> None:
    if number is None:
        if required:
            f.add(path, "port number is required", ErrorCode.PORT)
        return
    if not 1 <= number <= 65535:
        f.add(path, f"port number {number} must be in the range 1..65535", ErrorCode.PORT)


def check_port_name(f: Findings, path: str, name: str | None) -> None:
    if name is not None and not is_dns1123_label(name):
        f.add(path, f"port name {name!r} must be a DNS-1123 label", ErrorCode.PORT_NAME)


def check_protocol(f: Findings, path: str, protocol: str | None) -> None:
    if protocol and protocol.upper() not in PROTOCOLS:
        supported = ", ".join(sorted(PROTOCOLS))
        f.add(path, f"unknown protocol {protocol!r}; use one of {supported}", ErrorCode.PROTOCOL)


def check_regex(f: Findings, path: str, pattern: str | None) -> None:
    if pattern is None:
        return
    if len(pattern) > MAX_REGEX_LENGTH:
        f.add(path, f"regex is longer than {MAX_REGEX_LENGTH} characters", ErrorCode.REGEX)
        return
    if _RE2_UNSUPPORTED.search(pattern):
        f.add(path, f"regex {pattern!r} uses syntax RE2 does not support", ErrorCode.REGEX)
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        f.add(path, f"regex {pattern!r} does not compile: {exc}", ErrorCode.REGEX)


def check_percent(f: Findings, path: str, value: float | None) -> None:
    if value is not None and not 0 <= value <= 100:
        f.add(path, f"percentage {value} must be in the range 0..100", ErrorCode.PERCENT)


def check_export_to(f: Findings, path: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    values = tuple(values)
    for i, value in enumerate(values):
        where = f"{path}[{i}]"
        if value in seen:
            f.add(where, f"duplicate exportTo entry {value!r}", ErrorCode.EXPORT_TO)
        seen.add(value)
        if value not in ("*", ".", "~") and not is_namespace_name(value):
            f.add(
                where,
                f"exportTo {value!r} must be '*', '.', '~' or a namespace",
                ErrorCode.EXPORT_TO,
            )
    if len(seen) > 1 and seen & {"*", "~"}:
        f.add(
            path, "'*' and '~' cannot be combined with other exportTo entries", ErrorCode.EXPORT_TO
        )


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and dns_name_problem(prefix.lower()) is not None:
        return f"label key prefix {prefix!r} must be a DNS subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return f"label key {key!r} is not a valid label name"
    return None


def check_labels(
    f: Findings, path: str, labels: Mapping[str, str], *, selector: bool = False
) -> None:  # fmt: skip
    for key, value in labels.items():
        where = f"{path}[{key}]"
        problem = label_key_problem(key)
        if selector and ("*" in key or "*" in value):
            f.add(where, "wildcards are not supported in workload selectors", ErrorCode.SELECTOR)
        elif problem:
            f.add(where, problem, ErrorCode.LABELS)
        elif value and (len(value) > 63 or not _LABEL_NAME.match(value)):
            f.add(where, f"label value {value!r} is not a valid label value", ErrorCode.LABELS)


def check_header_name(f: Findings, path: str, name: str) -> None:
    if not name:
        f.add(path, "header name must not be empty", ErrorCode.HEADER_NAME)
    elif not _HEADER_NAME.match(name):
        f.add(path, f"invalid header name {name!r}", ErrorCode.HEADER_NAME)
