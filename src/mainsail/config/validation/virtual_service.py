"""VirtualService rules (istiod ``validateVirtualService`` and friends; reference §9)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.virtual_service import (
    Destination,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRoute,
    HTTPRouteDestination,
    RouteDestination,
    StringMatch,
    TLSRoute,
    VirtualService,
)
from mainsail.config.validation.rules import (
    Findings,
    check_duration,
    check_export_to,
    check_header_name,
    check_labels,
    check_percent,
    check_port,
    check_regex,
    check_wildcard_host,
    is_cidr,
    is_dns1123_label,
    is_namespace_name,
    wildcard_domain_problem,
)

# Envoy's HTTP and gRPC retry-on conditions; bare HTTP status codes are accepted too.
RETRY_ON = frozenset(
    {"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
     "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
     "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
     "internal", "resource-exhausted", "unavailable"}
)  # fmt: skip
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
MAX_BODY = 1024 * 1024
MESH = "mesh"


def validate_virtual_service(vs: VirtualService) -> list[ConfigError]:
    spec = vs.spec
    f = Findings()
    if not (spec.http or spec.tcp or spec.tls):
        f.add("spec", "http, tcp or tls must be provided", ErrorCode.VS_NO_ROUTES)
    gateways = spec.gateways or (MESH,)
    _check_gateways(f, "spec.gateways", spec.gateways)
    if not spec.hosts:
        if spec.gateways:
            f.add(
                "spec.gateways",
                "a delegate VirtualService (no hosts) must not set gateways",
                ErrorCode.VS_DELEGATE,
            )
        if spec.tls:
            f.add(
                "spec.tls",
                "a delegate VirtualService must not have tls routes",
                ErrorCode.VS_DELEGATE,
            )
        if spec.tcp:
            f.add(
                "spec.tcp",
                "a delegate VirtualService must not have tcp routes",
                ErrorCode.VS_DELEGATE,
            )
    seen: set[str] = set()
    for i, host in enumerate(spec.hosts):
        path = f"spec.hosts[{i}]"
        check_wildcard_host(f, path, host, ErrorCode.VS_HOSTS, allow_ip=True)
        if host == "*" and MESH in gateways:
            f.add(
                path,
                "wildcard host '*' is not allowed for a VirtualService bound to the mesh",
                ErrorCode.VS_HOSTS,
            )
        if host.lower() in seen:
            f.add(path, f"duplicate host {host!r}", ErrorCode.VS_HOSTS)
        seen.add(host.lower())
    check_export_to(f, "spec.exportTo", spec.export_to)
    for i, route in enumerate(spec.http):
        _check_http_route(f, f"spec.http[{i}]", route)
    for i, tls in enumerate(spec.tls):
        _check_tls_route(f, f"spec.tls[{i}]", tls, spec.hosts)
    for i, tcp in enumerate(spec.tcp):
        path = f"spec.tcp[{i}]"
        for j, m in enumerate(tcp.match):
            _check_l4_match(
                f,
                f"{path}.match[{j}]",
                m.destination_subnets,
                m.port,
                m.source_labels,
                m.source_namespace,
                m.gateways,
            )
            if m.source_subnet and not is_cidr(m.source_subnet):
                f.add(
                    f"{path}.match[{j}].sourceSubnet",
                    f"{m.source_subnet!r} is not an IP or CIDR",
                    ErrorCode.VS_MATCH,
                )
        _check_destinations(f, path, tcp.route)
    return f.items


def _check_gateways(f: Findings, path: str, gateways: Sequence[str]) -> None:
    for i, gw in enumerate(gateways):
        where = f"{path}[{i}]"
        if gw == MESH:
            continue
        ns, slash, name = gw.partition("/")
        if not slash:
            name, ns = gw, ""
            if "." in gw:
                f.warn(
                    where,
                    f"gateway {gw!r} uses the legacy FQDN form; write 'namespace/name'",
                    ErrorCode.VS_GATEWAY,
                )
                continue
        if ns and ns != "." and not is_namespace_name(ns):
            f.add(where, f"gateway namespace {ns!r} is not a valid namespace", ErrorCode.VS_GATEWAY)
        if not is_dns1123_label(name.replace(".", "-")) or not name:
            f.add(where, f"gateway name {name!r} is not a valid name", ErrorCode.VS_GATEWAY)


def _check_string_match(f: Findings, path: str, m: StringMatch) -> None:
    if m.exact is None and m.prefix is None and m.regex is None:
        f.warn(
            path,
            "empty match (no exact, prefix or regex) matches everything",
            ErrorCode.STRING_MATCH,
        )
    if m.prefix == "":
        f.add(f"{path}.prefix", "prefix match must not be empty", ErrorCode.STRING_MATCH)
    if m.regex == "":
        f.add(f"{path}.regex", "regex match must not be empty", ErrorCode.STRING_MATCH)
    check_regex(f, f"{path}.regex", m.regex or None)


def _check_match(f: Findings, path: str, m: HTTPMatchRequest) -> None:
    for field, value in (
        ("uri", m.uri),
        ("scheme", m.scheme),
        ("method", m.method),
        ("authority", m.authority),
    ):
        if value is not None:
            _check_string_match(f, f"{path}.{field}", value)
    for field, mapping in (("headers", m.headers), ("withoutHeaders", m.without_headers)):
        for name, sm in mapping.items():
            if not name.startswith("@"):  # "@request.auth.claims.*" matches JWT claims
                check_header_name(f, f"{path}.{field}[{name}]", name)
            _check_string_match(f, f"{path}.{field}[{name}]", sm)
    for name, sm in m.query_params.items():
        if sm.regex is not None:
            check_regex(f, f"{path}.queryParams[{name}].regex", sm.regex)
    check_port(f, f"{path}.port", m.port)
    check_labels(f, f"{path}.sourceLabels", m.source_labels)
    if m.source_namespace is not None and not is_namespace_name(m.source_namespace):
        f.add(
            f"{path}.sourceNamespace",
            f"{m.source_namespace!r} is not a valid namespace",
            ErrorCode.VS_MATCH,
        )
    _check_gateways(f, f"{path}.gateways", m.gateways)


def _check_destination(f: Findings, path: str, d: Destination) -> None:
    if not d.host:
        f.add(f"{path}.host", "destination host is required", ErrorCode.VS_DESTINATION)
    elif d.host == "*":
        f.add(f"{path}.host", "destination host cannot be '*'", ErrorCode.VS_DESTINATION)
    else:
        problem = wildcard_domain_problem(d.host)
        if problem:
            f.add(
                f"{path}.host",
                f"invalid destination host {d.host!r}: {problem}",
                ErrorCode.VS_DESTINATION,
            )
    if d.subset is not None and not is_dns1123_label(d.subset):
        f.add(
            f"{path}.subset",
            f"subset name {d.subset!r} must be a DNS-1123 label",
            ErrorCode.VS_SUBSET,
        )
    if d.port is not None:
        check_port(f, f"{path}.port.number", d.port.number)


def _check_destinations(
    f: Findings, path: str, routes: Sequence[HTTPRouteDestination | RouteDestination]
) -> None:
    total = 0
    for i, r in enumerate(routes):
        _check_destination(f, f"{path}.route[{i}].destination", r.destination)
        if r.weight is not None and r.weight < 0:
            f.add(f"{path}.route[{i}].weight", "must be >= 0", ErrorCode.VS_WEIGHT)
        total += max(r.weight or 0, 0)
    if len(routes) > 1 and total == 0:
        f.add(
            f"{path}.route",
            "weights of several destinations must not all be 0",
            ErrorCode.VS_WEIGHT,
        )


def _check_headers(f: Findings, path: str, headers: Headers | None) -> None:
    if headers is None:
        return
    for side, ops in (("request", headers.request), ("response", headers.response)):
        if ops is None:
            continue
        authority = 0
        for verb, names in (("set", ops.set), ("add", ops.add), ("remove", ops.remove)):
            for name in names:
                where = f"{path}.{side}.{verb}[{name}]"
                check_header_name(f, where, name)
                lowered = name.lower()
                if lowered in (":authority", "host") and side == "request" and verb != "remove":
                    authority += 1
                elif lowered.startswith(":"):
                    f.add(where, f"pseudo-header {name!r} cannot be modified", ErrorCode.VS_HEADERS)
        if authority > 1:
            f.add(
                f"{path}.{side}",
                "only one authority (host) rewrite is allowed",
                ErrorCode.VS_HEADERS,
            )


def _check_fault(f: Findings, path: str, fault: HTTPFaultInjection) -> None:
    if fault.abort is None and fault.delay is None:
        f.add(path, "fault injection needs an abort and/or a delay", ErrorCode.VS_FAULT)
    if fault.abort is not None:
        a = fault.abort
        if a.http_status is not None and not 200 <= a.http_status <= 599:
            f.add(
                f"{path}.abort.httpStatus",
                f"{a.http_status} is not a valid HTTP status",
                ErrorCode.VS_FAULT,
            )
        if a.http_status is None and a.grpc_status is None and a.http2_error is None:
            f.add(f"{path}.abort", "abort needs httpStatus or grpcStatus", ErrorCode.VS_FAULT)
        if a.percentage is not None:
            check_percent(f, f"{path}.abort.percentage.value", a.percentage.value)
    if fault.delay is not None:
        d = fault.delay
        if d.fixed_delay is None and d.exponential_delay is None:
            f.add(f"{path}.delay", "delay needs fixedDelay", ErrorCode.VS_FAULT)
        check_duration(f, f"{path}.delay.fixedDelay", d.fixed_delay)
        check_duration(f, f"{path}.delay.exponentialDelay", d.exponential_delay)
        if d.percent is not None and not 0 <= d.percent <= 100:
            f.add(
                f"{path}.delay.percent", f"percent {d.percent} must be in 0..100", ErrorCode.PERCENT
            )
        if d.percentage is not None:
            check_percent(f, f"{path}.delay.percentage.value", d.percentage.value)


def _check_action(f: Findings, path: str, r: HTTPRoute) -> None:
    actions = [
        n
        for n, v in (
            ("route", r.route),
            ("redirect", r.redirect),
            ("directResponse", r.direct_response),
            ("delegate", r.delegate),
        )
        if v
    ]
    if not actions:
        f.add(
            path,
            "an HTTP route needs one of route, redirect or directResponse",
            ErrorCode.VS_ACTION,
        )
    elif len(actions) > 1:
        f.add(path, f"an HTTP route may have only one of {', '.join(actions)}", ErrorCode.VS_ACTION)
    if r.redirect is not None or r.direct_response is not None:
        kind = "redirect" if r.redirect is not None else "directResponse"
        if r.fault is not None:
            f.add(f"{path}.fault", f"fault cannot be combined with {kind}", ErrorCode.VS_ACTION)
        if r.rewrite is not None:
            f.add(f"{path}.rewrite", f"rewrite cannot be combined with {kind}", ErrorCode.VS_ACTION)


def _check_http_route(f: Findings, path: str, r: HTTPRoute) -> None:
    _check_action(f, path, r)
    for i, m in enumerate(r.match):
        _check_match(f, f"{path}.match[{i}]", m)
    _check_destinations(f, path, r.route)
    for i, dest in enumerate(r.route):
        _check_headers(f, f"{path}.route[{i}].headers", dest.headers)
    _check_headers(f, f"{path}.headers", r.headers)
    if r.redirect is not None:
        rd = r.redirect
        if not (
            rd.uri or rd.authority or rd.scheme or rd.port or rd.derive_port or rd.prefix_rewrite
        ):
            f.add(
                f"{path}.redirect",
                "redirect must set uri, authority, scheme, port or prefixRewrite",
                ErrorCode.VS_REDIRECT,
            )
        if (
            rd.redirect_code is not None
            and rd.redirect_code != 0
            and rd.redirect_code not in REDIRECT_CODES
        ):
            f.add(
                f"{path}.redirect.redirectCode",
                f"{rd.redirect_code} is not a valid redirect code",
                ErrorCode.VS_REDIRECT,
            )
        if rd.port is not None:
            check_port(f, f"{path}.redirect.port", rd.port)
    if r.direct_response is not None:
        dr = r.direct_response
        if not 200 <= dr.status <= 599:
            f.add(
                f"{path}.directResponse.status",
                f"{dr.status} is not a valid HTTP status",
                ErrorCode.VS_DIRECT_RESPONSE,
            )
        body = dr.body
        if body is not None and body.string is not None and len(body.string.encode()) > MAX_BODY:
            f.add(
                f"{path}.directResponse.body",
                "body is larger than 1 MiB",
                ErrorCode.VS_DIRECT_RESPONSE,
            )
        if body is not None and body.bytes is not None:
            try:
                raw = base64.b64decode(body.bytes, validate=True)
            except (binascii.Error, ValueError):
                f.add(
                    f"{path}.directResponse.body.bytes",
                    "bytes must be base64",
                    ErrorCode.VS_DIRECT_RESPONSE,
                )
            else:
                if len(raw) > MAX_BODY:
                    f.add(
                        f"{path}.directResponse.body",
                        "body is larger than 1 MiB",
                        ErrorCode.VS_DIRECT_RESPONSE,
                    )
    if r.rewrite is not None:
        rw = r.rewrite
        if rw.uri is not None and rw.uri_regex_rewrite is not None:
            f.add(
                f"{path}.rewrite",
                "only one of uri and uriRegexRewrite may be set",
                ErrorCode.VS_REWRITE,
            )
        if not (rw.uri or rw.authority or rw.uri_regex_rewrite):
            f.add(
                f"{path}.rewrite",
                "rewrite must set uri, authority or uriRegexRewrite",
                ErrorCode.VS_REWRITE,
            )
        if rw.uri_regex_rewrite is not None:
            check_regex(
                f, f"{path}.rewrite.uriRegexRewrite.match", rw.uri_regex_rewrite.match or ""
            )
    check_duration(f, f"{path}.timeout", r.timeout)
    if r.retries is not None:
        _check_retries(f, f"{path}.retries", r)
    if r.fault is not None:
        _check_fault(f, f"{path}.fault", r.fault)
    if r.mirror is not None and r.mirrors:
        f.add(f"{path}.mirrors", "only one of mirror and mirrors may be set", ErrorCode.VS_MIRROR)
    if r.mirror is not None:
        _check_destination(f, f"{path}.mirror", r.mirror)
    for i, mirror in enumerate(r.mirrors):
        _check_destination(f, f"{path}.mirrors[{i}].destination", mirror.destination)
        if mirror.percentage is not None:
            check_percent(f, f"{path}.mirrors[{i}].percentage.value", mirror.percentage.value)
    if r.mirror_percentage is not None:
        check_percent(f, f"{path}.mirrorPercentage.value", r.mirror_percentage.value)
    if r.mirror_percent is not None and r.mirror_percent > 100:
        f.add(
            f"{path}.mirrorPercent",
            f"percentage {r.mirror_percent} must be in 0..100",
            ErrorCode.PERCENT,
        )
    if r.cors_policy is not None:
        cors = r.cors_policy
        for i, origin in enumerate(cors.allow_origins):
            _check_string_match(f, f"{path}.corsPolicy.allowOrigins[{i}]", origin)
        for i, method in enumerate(cors.allow_methods):
            if not method.isupper() or not method.isalpha():
                f.add(
                    f"{path}.corsPolicy.allowMethods[{i}]",
                    f"{method!r} is not an HTTP method",
                    ErrorCode.VS_CORS,
                )
        for fld, names in (
            ("allowHeaders", cors.allow_headers),
            ("exposeHeaders", cors.expose_headers),
        ):
            for i, name in enumerate(names):
                if name != "*":
                    check_header_name(f, f"{path}.corsPolicy.{fld}[{i}]", name)
        if cors.max_age is not None and cors.max_age.microseconds:
            f.add(
                f"{path}.corsPolicy.maxAge",
                "maxAge is only accurate to the second",
                ErrorCode.VS_CORS,
            )


def _check_retries(f: Findings, path: str, r: HTTPRoute) -> None:
    retries = r.retries
    assert retries is not None
    attempts = retries.attempts or 0
    if attempts < 0:
        f.add(f"{path}.attempts", "attempts must be >= 0", ErrorCode.VS_RETRY)
    if attempts == 0 and (
        retries.per_try_timeout or retries.retry_on or retries.retry_remote_localities
    ):
        f.add(
            path, "retry options are set but attempts is 0 (retries disabled)", ErrorCode.VS_RETRY
        )
    check_duration(f, f"{path}.perTryTimeout", retries.per_try_timeout)
    check_duration(f, f"{path}.backoff", retries.backoff)
    for token in (retries.retry_on or "").split(","):
        token = token.strip()
        if not token or token in RETRY_ON:
            continue
        if token.isdigit() and 100 <= int(token) <= 599:
            continue
        f.add(
            f"{path}.retryOn", f"{token!r} is not a valid retryOn condition", ErrorCode.VS_RETRY_ON
        )


def _check_l4_match(
    f: Findings, path: str, subnets: Sequence[str], port: int | None,
    labels: Mapping[str, str], namespace: str | None, gateways: Sequence[str],
) -> None:  # fmt: skip
    for i, subnet in enumerate(subnets):
        if not is_cidr(subnet):
            f.add(
                f"{path}.destinationSubnets[{i}]",
                f"{subnet!r} is not an IP or CIDR",
                ErrorCode.VS_MATCH,
            )
    check_port(f, f"{path}.port", port)
    check_labels(f, f"{path}.sourceLabels", labels)
    if namespace is not None and not is_namespace_name(namespace):
        f.add(
            f"{path}.sourceNamespace", f"{namespace!r} is not a valid namespace", ErrorCode.VS_MATCH
        )
    _check_gateways(f, f"{path}.gateways", gateways)


def _host_covers(vs_host: str, sni: str) -> bool:
    if vs_host == "*" or vs_host == sni:
        return True
    if vs_host.startswith("*."):
        suffix = vs_host[1:]
        return sni.endswith(suffix) and (not sni.startswith("*.") or sni[1:].endswith(suffix))
    return False


def _check_tls_route(f: Findings, path: str, tls: TLSRoute, hosts: Sequence[str]) -> None:
    if not tls.match:
        f.add(f"{path}.match", "a TLS route needs at least one match", ErrorCode.VS_TLS_ROUTE)
    for i, m in enumerate(tls.match):
        where = f"{path}.match[{i}]"
        if not m.sni_hosts:
            f.add(
                f"{where}.sniHosts",
                "a TLS match needs at least one SNI host",
                ErrorCode.VS_TLS_ROUTE,
            )
        for j, sni in enumerate(m.sni_hosts):
            check_wildcard_host(f, f"{where}.sniHosts[{j}]", sni, ErrorCode.VS_TLS_ROUTE)
            if hosts and not any(_host_covers(h, sni) for h in hosts):
                f.add(
                    f"{where}.sniHosts[{j}]",
                    f"SNI host {sni!r} is not covered by the VirtualService hosts",
                    ErrorCode.VS_TLS_ROUTE,
                )
        _check_l4_match(
            f, where, m.destination_subnets, m.port, m.source_labels, m.source_namespace, m.gateways
        )
    if not tls.route:
        f.add(f"{path}.route", "a TLS route needs at least one destination", ErrorCode.VS_TLS_ROUTE)
    _check_destinations(f, path, tls.route)
