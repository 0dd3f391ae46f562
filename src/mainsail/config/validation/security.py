"""PeerAuthentication, RequestAuthentication and AuthorizationPolicy rules (istiod's
``ValidatePeerAuthentication``, ``ValidateRequestAuthentication``/``validateJwtRule``,
``ValidateAuthorizationPolicy`` and ``checkDryRunAnnotation``; the CRDs' CEL rules).

Beyond istiod: principals, request principals and namespaces may carry ``*`` only as a prefix or
suffix (a warning: istiod accepts ``a*b`` but matches it literally, which is never what is meant).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.authorization_policy import (
    DRY_RUN_ANNOTATION,
    GO_FALSE,
    GO_TRUE,
    AuthorizationPolicy,
    Operation,
    Rule,
    Source,
)
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import JWTRule, RequestAuthentication
from mainsail.config.validation.rules import Findings, check_duration
from mainsail.config.validation.security_rules import (
    check_ips,
    check_not_empty,
    check_selector,
    check_service_accounts,
    check_target_refs,
    check_wildcards,
    ip_problem,
    jwks_uri_problem,
    path_template_problem,
    port_string_problem,
    service_account_problem,
    wildcard_problem,
)

_STRICT_HEADER = frozenset("-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _check_dry_run(
    f: Findings, resource: PeerAuthentication | RequestAuthentication | AuthorizationPolicy
) -> None:
    value = resource.metadata.annotations.get(DRY_RUN_ANNOTATION)
    if value is None:
        return
    where = f"metadata.annotations[{DRY_RUN_ANNOTATION}]"
    if not isinstance(resource, AuthorizationPolicy):
        f.add(
            where,
            f"{resource.kind} does not support the annotation; remove it",
            ErrorCode.AP_ACTION,
        )
    elif resource.spec.effective_action not in ("ALLOW", "DENY"):
        f.add(
            where,
            f"the annotation only supports action ALLOW/DENY, found {resource.spec.effective_action}",
            ErrorCode.AP_ACTION,
        )
    elif value not in GO_TRUE | GO_FALSE:
        f.add(where, f"invalid value {value!r}: use true or false", ErrorCode.AP_ACTION)


def validate_peer_authentication(pa: PeerAuthentication) -> list[ConfigError]:
    f = Findings()
    _check_dry_run(f, pa)
    spec = pa.spec
    check_selector(f, "spec.selector", spec.selector)
    if spec.port_level_mtls is not None:
        if not (spec.selector and spec.selector.match_labels):
            f.add(
                "spec.portLevelMtls",
                "mesh/namespace peer authentication cannot have port level mTLS "
                "(portLevelMtls requires a selector with labels)",
                ErrorCode.PA_PORT_LEVEL,
            )
        if not spec.port_level_mtls:
            f.add(
                "spec.portLevelMtls",
                "port level mTLS, if defined, must have at least one element",
                ErrorCode.PA_PORT_LEVEL,
            )
        for port in spec.port_level_mtls:
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                f.add(
                    f"spec.portLevelMtls[{port}]",
                    f"port {port!r} must be a number in the range 1..65535",
                    ErrorCode.PORT,
                )
    return f.items


def _check_jwt_rule(f: Findings, path: str, rule: JWTRule) -> None:
    for i, audience in enumerate(rule.audiences):
        if not audience:
            f.add(f"{path}.audiences[{i}]", "audience must be non-empty string", ErrorCode.RA_JWT)
    if not rule.issuer and not rule.jwks_uri:
        f.add(f"{path}.issuer", "issuer or jwksUri must be non-empty string", ErrorCode.RA_JWT)
    if rule.jwks_uri and (problem := jwks_uri_problem(rule.jwks_uri)):
        f.add(f"{path}.jwksUri", problem, ErrorCode.RA_JWT)
    if rule.jwks_uri and rule.jwks:
        f.add(path, "only one of jwks or jwksUri can be set", ErrorCode.RA_JWT)
    if rule.jwks:
        _check_jwks(f, f"{path}.jwks", rule.jwks)
    for i, header in enumerate(rule.from_headers):
        if not header.name:
            f.add(
                f"{path}.fromHeaders[{i}].name",
                "location header name must be non-empty string",
                ErrorCode.RA_JWT,
            )
    for i, param in enumerate(rule.from_params):
        if not param:
            f.add(
                f"{path}.fromParams[{i}]",
                "location query must be non-empty string",
                ErrorCode.RA_JWT,
            )
    for i, cookie in enumerate(rule.from_cookies):
        if not cookie:
            f.add(
                f"{path}.fromCookies[{i}]", "cookie name must be non-empty string", ErrorCode.RA_JWT
            )
    for i, claim in enumerate(rule.output_claim_to_headers):
        where = f"{path}.outputClaimToHeaders[{i}]"
        if not claim.claim or not claim.header:
            f.add(where, "header and claim value must be non-empty strings", ErrorCode.RA_JWT)
        elif not set(claim.header) <= _STRICT_HEADER:
            f.add(
                f"{where}.header",
                f"header name {claim.header} is not a valid header name (letters, digits, - and _)",
                ErrorCode.HEADER_NAME,
            )
    check_duration(f, f"{path}.timeout", rule.timeout)


def _check_jwks(f: Findings, path: str, jwks: str) -> None:
    """istiod parses inline keys (``jwk.Parse``): a JSON key set or a single key."""
    try:
        document = json.loads(jwks)
    except ValueError as exc:
        f.add(path, f"jwks parse error: {exc}", ErrorCode.RA_JWT)
        return
    keys = document.get("keys") if isinstance(document, dict) and "keys" in document else [document]
    if not isinstance(keys, list) or not all(isinstance(k, dict) and "kty" in k for k in keys):
        f.add(
            path,
            'jwks parse error: expected a JWK set ({"keys": [...]}) of keys with kty',
            ErrorCode.RA_JWT,
        )
        return
    for i, key in enumerate(keys):
        if "d" in key or key.get("kty") == "oct":
            f.warn(
                path,
                f"jwks key at index {i} contains private key material; only public keys are used",
                ErrorCode.RA_JWT,
            )


def validate_request_authentication(ra: RequestAuthentication) -> list[ConfigError]:
    f = Findings()
    _check_dry_run(f, ra)
    spec = ra.spec
    check_target_refs(f, spec.selector, spec.target_ref, spec.target_refs)
    check_selector(f, "spec.selector", spec.selector)
    for i, rule in enumerate(spec.jwt_rules):
        _check_jwt_rule(f, f"spec.jwtRules[{i}]", rule)
    return f.items


# Keys of ``when`` conditions (istio security.ValidateAttribute); "[...]" ones take a map key.
_PLAIN_KEYS = frozenset(
    {
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.principal",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    }
)
_MAP_KEYS = ("request.headers", "request.auth.claims", "experimental.envoy.filters.")


def _map_key_ok(key: str) -> bool:
    opening = key.find("[")
    return key.endswith("]") and 0 < opening < len(key) - 2


def _key_problem(key: str) -> str | None:
    """Whether ``key`` is an attribute Istio knows (``security.ValidateAttribute``)."""
    if key.startswith(_MAP_KEYS):
        return None if _map_key_ok(key) else f"bad key ({key}): should have format a[b]"
    if key in _PLAIN_KEYS:
        return None
    if key == "destination.namespace":
        return f"attribute {key} is replaced by the metadata.namespace"
    if key.startswith("destination.labels"):
        return f"attribute {key} is replaced by the workload selector"
    if key in ("destination.name", "destination.user"):
        return f"deprecated attribute {key}: only supported in v1alpha1"
    known = ", ".join(sorted(_PLAIN_KEYS | {f"{k}[...]" for k in _MAP_KEYS}))
    return f"unknown attribute: {key} (known: {known})"


def _value_problem(key: str, values: Sequence[str]) -> str | None:
    if any(v == "" for v in values):
        return "empty value not allowed"
    check = {
        "source.ip": ip_problem,
        "remote.ip": ip_problem,
        "destination.ip": ip_problem,
        "source.serviceAccount": service_account_problem,
        "source.trustDomain": wildcard_problem,
        "destination.port": port_string_problem,
    }.get(key)
    if check is None:
        return None
    return next((p for v in values if (p := check(v))), None)


_SOURCE_FIELDS = (
    ("principals", "principals"),
    ("not_principals", "notPrincipals"),
    ("request_principals", "requestPrincipals"),
    ("not_request_principals", "notRequestPrincipals"),
    ("namespaces", "namespaces"),
    ("not_namespaces", "notNamespaces"),
    ("service_accounts", "serviceAccounts"),
    ("not_service_accounts", "notServiceAccounts"),
    ("ip_blocks", "ipBlocks"),
    ("not_ip_blocks", "notIpBlocks"),
    ("remote_ip_blocks", "remoteIpBlocks"),
    ("not_remote_ip_blocks", "notRemoteIpBlocks"),
    ("trust_domains", "trustDomains"),
    ("not_trust_domains", "notTrustDomains"),
)
_OPERATION_FIELDS = (
    ("hosts", "hosts"),
    ("not_hosts", "notHosts"),
    ("ports", "ports"),
    ("not_ports", "notPorts"),
    ("methods", "methods"),
    ("not_methods", "notMethods"),
    ("paths", "paths"),
    ("not_paths", "notPaths"),
)
# Source fields that work on TCP too (the rest need HTTP; see the DENY warning).
_TCP_SOURCE = {
    "principals", "not_principals", "namespaces", "not_namespaces", "ip_blocks", "not_ip_blocks",
    "remote_ip_blocks", "not_remote_ip_blocks", "service_accounts", "not_service_accounts",
}  # fmt: skip


def _check_source(f: Findings, path: str, src: Source) -> None:
    if not any(getattr(src, attr) for attr, _ in _SOURCE_FIELDS):
        f.add(path, "`from.source` must not be empty", ErrorCode.AP_RULE)
    if (src.principals or src.not_principals or src.namespaces or src.not_namespaces) and (
        src.service_accounts or src.not_service_accounts
    ):
        f.add(path, "cannot set serviceAccounts with namespaces or principals", ErrorCode.AP_RULE)
    for attr, wire in (("ip_blocks", "ipBlocks"), ("not_ip_blocks", "notIpBlocks"),
                       ("remote_ip_blocks", "remoteIpBlocks"),
                       ("not_remote_ip_blocks", "notRemoteIpBlocks")):  # fmt: skip
        check_ips(f, f"{path}.{wire}", getattr(src, attr))
    check_service_accounts(f, f"{path}.serviceAccounts", src.service_accounts)
    check_service_accounts(f, f"{path}.notServiceAccounts", src.not_service_accounts)
    for attr, wire in (("trust_domains", "trustDomains"), ("not_trust_domains", "notTrustDomains")):
        values = getattr(src, attr)
        check_wildcards(f, f"{path}.{wire}", values, ErrorCode.PRINCIPAL)
        for i, value in enumerate(values):
            if "/" in value:
                f.add(
                    f"{path}.{wire}[{i}]", "trust domain must not contain '/'", ErrorCode.PRINCIPAL
                )
    for attr, wire in (("principals", "principals"), ("not_principals", "notPrincipals"),
                       ("request_principals", "requestPrincipals"),
                       ("not_request_principals", "notRequestPrincipals"),
                       ("namespaces", "namespaces"), ("not_namespaces", "notNamespaces")):  # fmt: skip
        values = getattr(src, attr)
        check_not_empty(f, f"{path}.{wire}", values, ErrorCode.PRINCIPAL)
        for i, value in enumerate(values):
            if value and (problem := wildcard_problem(value)):
                f.warn(
                    f"{path}.{wire}[{i}]",
                    f"{problem}; it would match literally",
                    ErrorCode.PRINCIPAL,
                )


def _check_operation(f: Findings, path: str, op: Operation) -> None:
    if not any(getattr(op, attr) for attr, _ in _OPERATION_FIELDS):
        f.add(path, "`to.operation` must not be empty", ErrorCode.AP_RULE)
    for attr, wire in _OPERATION_FIELDS:
        check_not_empty(f, f"{path}.{wire}", getattr(op, attr), ErrorCode.AP_RULE)
    for attr, wire in (("ports", "ports"), ("not_ports", "notPorts")):
        for i, port in enumerate(getattr(op, attr)):
            if port and (problem := port_string_problem(port)):
                f.add(f"{path}.{wire}[{i}]", problem, ErrorCode.PORT)
    for attr, wire in (("paths", "paths"), ("not_paths", "notPaths")):
        for i, value in enumerate(getattr(op, attr)):
            if problem := path_template_problem(value):
                f.add(f"{path}.{wire}[{i}]", problem, ErrorCode.AP_RULE)


def _check_custom(f: Findings, path: str, rule: Rule) -> None:
    """istiod: CUSTOM cannot match on identities (ext_authz runs before jwt_authn and RBAC)."""
    for j, item in enumerate(rule.from_):
        src = item.source
        if src is None:
            continue
        for attr, wire in _SOURCE_FIELDS:
            if attr in ("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks"):
                continue
            if getattr(src, attr):
                f.add(
                    f"{path}.from[{j}].source.{wire}",
                    f"From.{wire[0].upper()}{wire[1:]} is currently not supported with CUSTOM action",
                    ErrorCode.AP_CUSTOM,
                )
    for j, condition in enumerate(rule.when):
        key = condition.key
        if key in ("source.namespace", "source.serviceAccount", "source.trustDomain",
                   "source.principal") or key.startswith("request.auth."):  # fmt: skip
            f.add(
                f"{path}.when[{j}].key",
                f"{key} is currently not supported with CUSTOM action",
                ErrorCode.AP_CUSTOM,
            )


def validate_authorization_policy(ap: AuthorizationPolicy) -> list[ConfigError]:
    f = Findings()
    spec = ap.spec
    _check_dry_run(f, ap)
    check_target_refs(f, spec.selector, spec.target_ref, spec.target_refs)
    check_selector(f, "spec.selector", spec.selector)
    action = spec.effective_action
    # istiod tests ``rules == nil``; an empty list unmarshals to nil as well.
    rules_given = bool(spec.rules)
    if action in ("CUSTOM", "DENY") and not rules_given:
        f.add(
            "spec.rules",
            f"{action} action without `rules` is meaningless as it will never be triggered, "
            "add an empty rule `{}` if you want it be triggered for every request",
            ErrorCode.AP_ACTION,
        )
    if action == "CUSTOM" and rules_given and (spec.provider is None or not spec.provider.name):
        f.add(
            "spec.provider.name",
            "`provider.name` must not be empty for CUSTOM",
            ErrorCode.AP_ACTION,
        )
    if spec.provider is not None and action != "CUSTOM":
        f.add(
            "spec.provider",
            f"`provider` must not be with non CUSTOM action, found {action}",
            ErrorCode.AP_ACTION,
        )
    for i, rule in enumerate(spec.rules):
        path = f"spec.rules[{i}]"
        if action == "CUSTOM":
            _check_custom(f, path, rule)
        _check_rule(f, path, rule, action)
    return f.items


def _check_rule(f: Findings, path: str, rule: Rule, action: str) -> None:
    tcp_from = tcp_to = has_from = has_to = False
    for j, item in enumerate(rule.from_):
        if item.source is None:
            f.add(f"{path}.from[{j}].source", "`from.source` must not be nil", ErrorCode.AP_RULE)
            continue
        has_from = True
        _check_source(f, f"{path}.from[{j}].source", item.source)
        tcp_from = tcp_from or any(getattr(item.source, a) for a in _TCP_SOURCE)
    for j, target in enumerate(rule.to):
        if target.operation is None:
            f.add(f"{path}.to[{j}].operation", "`to.operation` must not be nil", ErrorCode.AP_RULE)
            continue
        has_to = True
        _check_operation(f, f"{path}.to[{j}].operation", target.operation)
        tcp_to = tcp_to or bool(target.operation.ports or target.operation.not_ports)
    for j, condition in enumerate(rule.when):
        where = f"{path}.when[{j}]"
        if not condition.key:
            f.add(f"{where}.key", "`key` must not be empty", ErrorCode.AP_CONDITION)
            continue
        if not condition.values and not condition.not_values:
            f.add(
                where,
                f"at least one of `values` or `notValues` must be set for key {condition.key}",
                ErrorCode.AP_CONDITION,
            )
            continue
        if problem := _key_problem(condition.key):
            f.add(f"{where}.key", problem, ErrorCode.AP_CONDITION)
            continue
        for wire, values in (("values", condition.values), ("notValues", condition.not_values)):
            if problem := _value_problem(condition.key, values):
                f.add(
                    f"{where}.{wire}",
                    f"invalid for key {condition.key}: {problem}",
                    ErrorCode.AP_CONDITION,
                )
    http_only = (has_from and not has_to and not tcp_from) or (has_to and not tcp_to)
    if action == "DENY" and http_only:
        f.warn(
            path,
            "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope "
            "due to the use of only HTTP attributes in a DENY rule; it is recommended to "
            "explicitly specify the port",
            ErrorCode.AP_RULE,
        )
