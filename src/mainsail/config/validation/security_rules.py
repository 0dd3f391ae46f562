"""Checks the security kinds share (istio ``pkg/config/security/security.go`` and the selector and
targetRef rules of ``pkg/config/validation/validation.go``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from mainsail.config.errors import ErrorCode
from mainsail.config.istio.common import MatchLabelsSelector, PolicyTargetReference
from mainsail.config.validation.rules import Findings

# istio's allowedTargetRefs: (canonical group, kind); "core" is the empty group.
_TARGET_KINDS = frozenset(
    {
        ("core", "Service"),
        ("networking.istio.io", "ServiceEntry"),
        ("gateway.networking.k8s.io", "Gateway"),
        ("gateway.networking.k8s.io", "GatewayClass"),
    }
)


def check_selector(f: Findings, path: str, selector: MatchLabelsSelector | None) -> None:
    """``validateWorkloadSelector``: no empty keys, no wildcards; empty labels only warn."""
    if selector is None:
        return
    for key, value in selector.match_labels.items():
        where = f"{path}.matchLabels[{key}]"
        if not key:
            f.add(where, "empty key is not supported in selector", ErrorCode.SELECTOR)
        if "*" in key or "*" in value:
            f.add(
                where, f"wildcard is not supported in selector: {key}={value}", ErrorCode.SELECTOR
            )
    if not selector.match_labels:
        f.warn(
            f"{path}.matchLabels",
            "workload selector specified without labels (selects every workload)",
            ErrorCode.SELECTOR,
        )


def check_target_refs(
    f: Findings,
    selector: MatchLabelsSelector | None,
    target_ref: PolicyTargetReference | None,
    target_refs: Sequence[PolicyTargetReference],
) -> None:
    """``validateOneOfSelectorType`` and ``validatePolicyTargetReference``."""
    chosen = [
        name
        for name, present in (
            ("selector", selector is not None),
            ("targetRef", target_ref is not None),
            ("targetRefs", bool(target_refs)),
        )
        if present
    ]
    if len(chosen) > 1:
        f.add(
            "spec",
            f"only one of targetRefs or workloadSelector can be set (found {', '.join(chosen)})",
            ErrorCode.TARGET_REF,
        )
    refs = [("spec.targetRef", target_ref)] if target_ref is not None else []
    refs += [(f"spec.targetRefs[{i}]", r) for i, r in enumerate(target_refs)]
    for path, ref in refs:
        if ref.namespace:
            f.add(
                f"{path}.namespace",
                "targetRef namespace must not be set; cross namespace referencing is not supported",
                ErrorCode.TARGET_REF,
            )
        group = ref.group or "core"
        if (group, ref.kind) not in _TARGET_KINDS:
            allowed = ", ".join(f"{g}/{k}" for g, k in sorted(_TARGET_KINDS))
            f.add(
                path,
                f"targetRef must be to one of {allowed} but was {ref.group or ''}/{ref.kind}",
                ErrorCode.TARGET_REF,
            )


def ip_problem(value: str) -> str | None:
    """``ValidateIPs``: a CIDR when it has a '/', else an address."""
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return f"bad CIDR range ({value})" if "/" in value else f"bad IP address ({value})"
    return None


def check_ips(f: Findings, path: str, values: Sequence[str]) -> None:
    for i, value in enumerate(values):
        problem = ip_problem(value)
        if problem:
            f.add(f"{path}[{i}]", problem, ErrorCode.IP_BLOCK)


def check_not_empty(f: Findings, path: str, values: Sequence[str], code: ErrorCode) -> None:
    """``CheckEmptyValues``."""
    for i, value in enumerate(values):
        if value == "":
            f.add(f"{path}[{i}]", "empty value not allowed", code)


def wildcard_problem(value: str) -> str | None:
    """``CheckWildcardValues``: at most one '*', and only at the start or end."""
    count = value.count("*")
    if count > 1:
        return f"at most one wildcard is allowed: {value!r}"
    if count == 1 and value != "*" and not value.startswith("*") and not value.endswith("*"):
        return f"wildcard is only allowed at the start or end: {value!r}"
    return None


def check_wildcards(f: Findings, path: str, values: Sequence[str], code: ErrorCode) -> None:
    for i, value in enumerate(values):
        if value == "":
            f.add(f"{path}[{i}]", "empty value not allowed", code)
        elif problem := wildcard_problem(value):
            f.add(f"{path}[{i}]", problem, code)


def service_account_problem(value: str) -> str | None:
    """``CheckServiceAccount``: ``sa`` or ``namespace/sa``, no wildcard, at most 320 chars."""
    if value == "":
        return "empty value not allowed"
    if "*" in value:
        return "wildcard not allowed"
    if value.count("/") > 1:
        return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found {value!r}"
    if len(value) > 320:
        return "value cannot exceed 320 characters"
    namespace, slash, account = value.partition("/")
    if slash and (not namespace or not account):
        return f"expected format 'serviceAccount' or 'namespace/serviceAccount', found {value!r}"
    return None


def check_service_accounts(f: Findings, path: str, values: Sequence[str]) -> None:
    if len(values) > 16:
        f.add(path, "may not have more than 16 values", ErrorCode.PRINCIPAL)
    for i, value in enumerate(values):
        if problem := service_account_problem(value):
            f.add(f"{path}[{i}]", problem, ErrorCode.PRINCIPAL)


def port_string_problem(value: str) -> str | None:
    """``ValidatePorts``: a decimal number in 0..65535."""
    if not value.isdigit() or int(value) > 65535:
        return f"bad port ({value}): must be a number in 0..65535"
    return None


_LITERAL = re.compile(r"^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$")


def path_template_problem(path: str) -> str | None:
    """``CheckValidPathTemplate``: ``{*}`` and a final ``{**}`` as whole segments."""
    has_template = "{*}" in path or "{**}" in path
    found_any = False
    for glob in path.strip("/").split("/"):
        if glob == "{*}" and not found_any:
            continue
        if glob == "{**}" and not found_any:
            found_any = True
            continue
        if glob in ("{*}", "{**}"):
            return f"invalid or unsupported path {path}: {{**}} is not the last operator"
        if "{" in glob or "}" in glob:
            return (
                f"invalid or unsupported path {path}: contains '{{' or '}}' beyond a path template"
            )
        if has_template and not _LITERAL.match(glob):
            return f"invalid or unsupported path {path}: segment {glob!r} is not a valid literal"
    return None


def jwks_uri_problem(uri: str) -> str | None:
    """``ParseJwksURI``: an http or https URL with a valid port."""
    try:
        parts = urlsplit(uri)
        _ = parts.port
    except ValueError as exc:
        return f"invalid jwksUri {uri!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"URI scheme {parts.scheme!r} is not supported (use http or https)"
    return None
