"""VirtualService HTTP routes → Envoy ``Route`` messages (reference §3.1).

Reads: VirtualService (``http``), services (for the destination port), DestinationRule (whether a
destination uses consistent hashing). Pure: every per-proxy fact comes in ``RouteContext``.

Matches are translated in ``route_matches.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.common.fault.v3 import fault_pb2 as common_fault_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import (
    previous_priorities_config_pb2 as previous_priorities_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import MeshService
from mainsail.snapshot.destination_rules import destination_rule_for, policy_for
from mainsail.snapshot.hosts import resolve_gateway_name, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.xds.protos import duration, struct, uint32
from mainsail.xds.route_matches import route_match, string_matcher

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
_REDIRECT_CODES = {
    0: rc.RedirectAction.MOVED_PERMANENTLY,
    301: rc.RedirectAction.MOVED_PERMANENTLY,
    302: rc.RedirectAction.FOUND,
    303: rc.RedirectAction.SEE_OTHER,
    307: rc.RedirectAction.TEMPORARY_REDIRECT,
    308: rc.RedirectAction.PERMANENT_REDIRECT,
}
_GRPC_CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteContext:
    """Who the routes are built for: the gateway (``mesh`` for sidecars), port and proxy."""

    snapshot: MeshSnapshot
    gateway: str
    port: int
    proxy_namespace: str
    proxy_labels: Mapping[str, str]


def default_route(ctx: RouteContext, service: MeshService, port: int) -> rc.Route:
    """The route of a service no VirtualService claims: all paths to the default cluster."""
    hash_policies = destination_hash_policies(ctx, service.hostname, port, "")
    action = rc.RouteAction(
        cluster=naming.build_outbound_cluster(port, service.hostname),
        retry_policy=default_retry_policy(hashed=bool(hash_policies)),
        hash_policy=hash_policies,
    )
    set_timeout(action, None)
    return rc.Route(
        name=naming.DEFAULT_ROUTE,
        match=rc.RouteMatch(prefix="/"),
        route=action,
        decorator=rc.Decorator(operation=f"{service.hostname}:{port}/*"),
    )


def set_timeout(action: rc.RouteAction, timeout: timedelta | None) -> None:
    """``timeout`` (istiod's default 0 s: disabled).

    istiod also caps the gRPC ``grpc-timeout`` header with the same value through
    ``max_grpc_timeout``, deprecated in Envoy. Its replacement must not be used: any
    ``max_stream_duration`` on a route switches Envoy's router to its "new timeouts", which
    ignore ``timeout`` - every VirtualService timeout would be lost (istiod keeps the deprecated
    field for that reason). So Envoy does not read ``grpc-timeout``; gRPC requests get the
    route ``timeout`` like any other request."""
    action.timeout.CopyFrom(duration(timeout if timeout is not None else timedelta(0)))


def destination_hash_policies(
    ctx: RouteContext, host: str, port: int, subset: str
) -> list[rc.RouteAction.HashPolicy]:
    """The route-side hash key of a DestinationRule ``consistentHash`` for this destination."""
    service = ctx.snapshot.services.get(host)
    if service is None:
        return []
    rule = destination_rule_for(
        ctx.snapshot, ctx.proxy_namespace, host, service.namespace, ctx.proxy_labels
    )
    lb = policy_for(rule, port, subset).get("load_balancer")
    consistent = lb.consistent_hash if lb is not None else None
    if consistent is None:
        return []
    policy = rc.RouteAction.HashPolicy()
    if consistent.http_header_name:
        policy.header.header_name = consistent.http_header_name
    elif consistent.http_cookie is not None:
        cookie = consistent.http_cookie
        policy.cookie.name = cookie.name
        if cookie.path:
            policy.cookie.path = cookie.path
        if cookie.ttl is not None:
            policy.cookie.ttl.CopyFrom(duration(cookie.ttl))
        for attribute in cookie.attributes:
            policy.cookie.attributes.append(
                rc.RouteAction.HashPolicy.CookieAttribute(
                    name=attribute.name, value=attribute.value or ""
                )
            )
    elif consistent.use_source_ip:
        policy.connection_properties.source_ip = True
    elif consistent.http_query_parameter_name:
        policy.query_parameter.name = consistent.http_query_parameter_name
    else:
        return []
    return [policy]


def default_retry_policy(*, hashed: bool = False) -> rc.RetryPolicy:
    policy = rc.RetryPolicy(
        retry_on=DEFAULT_RETRY_ON,
        num_retries=uint32(2),
        host_selection_retry_max_attempts=5,
    )
    if not hashed:
        _add_previous_hosts(policy)
    return policy


def _add_previous_hosts(policy: rc.RetryPolicy) -> None:
    predicate = any_pb2.Any()
    predicate.Pack(previous_hosts_pb2.PreviousHostsPredicate())
    policy.retry_host_predicate.append(
        rc.RetryPolicy.RetryHostPredicate(
            name="envoy.retry_host_predicates.previous_hosts", typed_config=predicate
        )
    )


def translate_virtual_service(vs: VirtualService, ctx: RouteContext) -> list[rc.Route]:
    """All routes of one VirtualService for one (gateway, port), in order; stops after a catch-all."""
    routes: list[rc.Route] = []
    vs_gateways = virtual_service_gateways(vs)
    for http in vs.spec.http:
        matches: Iterable[Any] = http.match or (None,)
        for match in matches:
            if not _match_applies(match, vs, vs_gateways, ctx):
                continue
            route = _translate(vs, http, match, ctx)
            if route is None:
                continue
            routes.append(route)
            if _is_catch_all(route):
                return routes
    return routes


def virtual_service_gateways(vs: VirtualService) -> frozenset[str]:
    """The VirtualService's gateways as ``<ns>/<name>`` (``mesh`` when none are listed)."""
    names = vs.spec.gateways or ("mesh",)
    return frozenset(resolve_gateway_name(g, vs.namespace) for g in names)


def _match_applies(
    match: Any, vs: VirtualService, vs_gateways: frozenset[str], ctx: RouteContext
) -> bool:
    if match is None:
        return ctx.gateway in vs_gateways
    if match.gateways:
        if ctx.gateway not in {resolve_gateway_name(g, vs.namespace) for g in match.gateways}:
            return False
    elif ctx.gateway not in vs_gateways:
        return False
    if match.port and match.port != ctx.port:
        return False
    if match.source_labels and not all(
        ctx.proxy_labels.get(k) == v for k, v in match.source_labels.items()
    ):
        return False
    return not (match.source_namespace and match.source_namespace != ctx.proxy_namespace)


def _is_catch_all(route: rc.Route) -> bool:
    match = route.match
    return (
        match.WhichOneof("path_specifier") == "prefix"
        and match.prefix == "/"
        and not match.headers
        and not match.query_parameters
        and not match.dynamic_metadata
    )


def _route_name(http: Any, match: Any) -> str:
    if http.name and match is not None and match.name:
        return f"{http.name}.{match.name}"
    return http.name or ""


def _translate(vs: VirtualService, http: Any, match: Any, ctx: RouteContext) -> rc.Route | None:
    route = rc.Route(name=_route_name(http, match), match=route_match(match))
    if match is not None and match.stat_prefix:
        route.stat_prefix = match.stat_prefix
    route.metadata.filter_metadata["istio"].CopyFrom(
        struct(
            {
                "config": f"/apis/networking.istio.io/v1/namespaces/{vs.namespace}"
                f"/virtual-service/{vs.name}"
            }
        )
    )
    if http.redirect is not None:
        if not _set_redirect(route, http.redirect, ctx):
            return None
    elif http.direct_response is not None:
        route.direct_response.status = http.direct_response.status
        body = http.direct_response.body
        if body is not None:
            if body.string is not None:
                route.direct_response.body.inline_string = body.string
            elif body.bytes is not None:
                # The wire carries ``bytes`` base64-encoded (protobuf JSON).
                route.direct_response.body.inline_bytes = base64.b64decode(body.bytes)
    else:
        _set_route_action(route, vs, http, ctx)
    route.decorator.operation = _operation(route, vs, ctx.port)
    _set_headers(route, http.headers)
    _set_fault(route, http.fault)
    _set_cors(route, http.cors_policy)
    if vs.name in ctx.snapshot.mesh.test_nack_virtual_services:
        # Test hook: a regex Envoy's RE2 refuses, so the whole RDS update is NACKed.
        route.match.ClearField("path_specifier")
        route.match.safe_regex.regex = "(unclosed"
    return route


def _destination_key(
    vs: VirtualService, destination: Any, ctx: RouteContext
) -> tuple[str, int, str]:
    """(host, port, subset) of a destination: its port, else the service's only port, else the
    port the routes are built for."""
    host = resolve_short_name(destination.host, vs.namespace, ctx.snapshot.mesh.domain)
    port = (
        destination.port.number if destination.port is not None and destination.port.number else 0
    )
    if not port:
        service = ctx.snapshot.services.get(host)
        port = (
            service.ports[0].port if service is not None and len(service.ports) == 1 else ctx.port
        )
    return host, port, destination.subset or ""


def _destination_cluster(vs: VirtualService, destination: Any, ctx: RouteContext) -> str:
    host, port, subset = _destination_key(vs, destination, ctx)
    return naming.build_outbound_cluster(port, host, subset)


def _set_route_action(route: rc.Route, vs: VirtualService, http: Any, ctx: RouteContext) -> None:
    action = route.route
    if len(http.route) == 1:
        only = http.route[0]
        host, port, subset = _destination_key(vs, only.destination, ctx)
        action.cluster = naming.build_outbound_cluster(port, host, subset)
        action.hash_policy.extend(destination_hash_policies(ctx, host, port, subset))
        _set_headers(route, only.headers)
    else:
        # Several destinations are always weighted clusters; weight-0 entries are dropped.
        for destination in http.route:
            if not destination.weight:
                continue
            host, port, subset = _destination_key(vs, destination.destination, ctx)
            weighted = rc.WeightedCluster.ClusterWeight(
                name=naming.build_outbound_cluster(port, host, subset),
                weight=uint32(destination.weight),
            )
            _set_cluster_weight_headers(weighted, destination.headers)
            action.weighted_clusters.clusters.append(weighted)
            hashes = destination_hash_policies(ctx, host, port, subset)
            if hashes:  # as istiod: the last hashed destination's key is the route's
                del action.hash_policy[:]
                action.hash_policy.extend(hashes)
    set_timeout(action, http.timeout)
    _set_retries(action, http.retries, hashed=bool(action.hash_policy))
    if http.rewrite is not None:
        if http.rewrite.uri is not None:
            action.prefix_rewrite = http.rewrite.uri
        if http.rewrite.uri_regex_rewrite is not None:
            action.regex_rewrite.pattern.regex = http.rewrite.uri_regex_rewrite.match
            action.regex_rewrite.substitution = http.rewrite.uri_regex_rewrite.rewrite
        if http.rewrite.authority:
            action.host_rewrite_literal = http.rewrite.authority
    _set_mirrors(action, vs, http, ctx)


def _set_retries(action: rc.RouteAction, retries: Any, *, hashed: bool) -> None:
    """istiod's ``retry.ConvertPolicy``: the default policy, overlaid with the VS's fields."""
    if retries is None:
        action.retry_policy.CopyFrom(default_retry_policy(hashed=hashed))
        return
    if not retries.attempts:
        return  # attempts 0: no retries at all
    policy = default_retry_policy(hashed=hashed)
    policy.num_retries.value = retries.attempts
    if retries.retry_on:
        tokens = [t.strip() for t in retries.retry_on.split(",") if t.strip()]
        codes = [int(t) for t in tokens if t.isdigit()]
        named = [t for t in tokens if not t.isdigit()]
        if codes and "retriable-status-codes" not in named:
            named.append("retriable-status-codes")
        policy.retry_on = ",".join(named)
        policy.retriable_status_codes.extend(codes)
    if retries.per_try_timeout is not None:
        policy.per_try_timeout.CopyFrom(duration(retries.per_try_timeout))
    if retries.retry_ignore_previous_hosts is False:
        del policy.retry_host_predicate[:]
    if retries.retry_remote_localities:
        priority = any_pb2.Any()
        priority.Pack(previous_priorities_pb2.PreviousPrioritiesConfig(update_frequency=2))
        policy.retry_priority.name = "envoy.retry_priorities.previous_priorities"
        policy.retry_priority.typed_config.CopyFrom(priority)
    if retries.backoff is not None:
        policy.retry_back_off.base_interval.CopyFrom(duration(retries.backoff))
    action.retry_policy.CopyFrom(policy)


def _header_options(values: Mapping[str, str], append: bool) -> list[base_pb2.HeaderValueOption]:
    action = (
        base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
        if append
        else base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    )
    return [
        base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=k, value=v), append_action=action
        )
        for k, v in sorted(values.items())
        if k.lower() not in (":authority", "host")
    ]


def _removable(names: Iterable[str]) -> list[str]:
    """Headers Envoy lets a route remove: istiod silently drops pseudo-headers and ``host``."""
    return [n for n in names if not n.startswith(":") and n.lower() != "host"]


def _set_headers(route: rc.Route, headers: Any) -> None:
    if headers is None:
        return
    if headers.request is not None:
        route.request_headers_to_add.extend(_header_options(headers.request.set, False))
        route.request_headers_to_add.extend(_header_options(headers.request.add, True))
        route.request_headers_to_remove.extend(_removable(headers.request.remove))
        authority = headers.request.set.get(":authority") or headers.request.set.get("host")
        if authority and route.WhichOneof("action") == "route":
            route.route.host_rewrite_literal = authority
    if headers.response is not None:
        route.response_headers_to_add.extend(_header_options(headers.response.set, False))
        route.response_headers_to_add.extend(_header_options(headers.response.add, True))
        route.response_headers_to_remove.extend(_removable(headers.response.remove))


def _set_cluster_weight_headers(weighted: rc.WeightedCluster.ClusterWeight, headers: Any) -> None:
    if headers is None:
        return
    if headers.request is not None:
        weighted.request_headers_to_add.extend(_header_options(headers.request.set, False))
        weighted.request_headers_to_add.extend(_header_options(headers.request.add, True))
        weighted.request_headers_to_remove.extend(_removable(headers.request.remove))
    if headers.response is not None:
        weighted.response_headers_to_add.extend(_header_options(headers.response.set, False))
        weighted.response_headers_to_add.extend(_header_options(headers.response.add, True))
        weighted.response_headers_to_remove.extend(_removable(headers.response.remove))


def _million(percentage: Any) -> percent_pb2.FractionalPercent:
    """A VS ``Percent`` (0 to 100, fractional) as Envoy's per-million fraction."""
    return percent_pb2.FractionalPercent(
        numerator=round(float(percentage.value or 0) * 10000),
        denominator=percent_pb2.FractionalPercent.MILLION,
    )


def _hundred(percent: int) -> percent_pb2.FractionalPercent:
    """A legacy integer percent as Envoy's per-hundred fraction."""
    return percent_pb2.FractionalPercent(
        numerator=percent, denominator=percent_pb2.FractionalPercent.HUNDRED
    )


def _set_fault(route: rc.Route, fault: Any) -> None:
    """istiod's ``translateFault``. With neither ``percentage`` nor the legacy ``percent`` a
    delay gets 0 % and an abort no percentage (Envoy: 0 %): the fault is never injected."""
    if fault is None:
        return
    config = fault_pb2.HTTPFault()
    if fault.delay is not None and fault.delay.fixed_delay is not None:
        delay = fault.delay
        config.delay.CopyFrom(
            common_fault_pb2.FaultDelay(
                fixed_delay=duration(delay.fixed_delay),
                percentage=_million(delay.percentage)
                if delay.percentage is not None
                else _hundred(delay.percent or 0),
            )
        )
    if fault.abort is not None:
        abort = fault_pb2.FaultAbort()
        if fault.abort.percentage is not None:
            abort.percentage.CopyFrom(_million(fault.abort.percentage))
        if fault.abort.grpc_status is not None:
            abort.grpc_status = _GRPC_CODES.get(str(fault.abort.grpc_status), 2)
        else:
            abort.http_status = fault.abort.http_status or 500
        config.abort.CopyFrom(abort)
    packed = any_pb2.Any()
    packed.Pack(config)
    route.typed_per_filter_config[FAULT_FILTER].CopyFrom(packed)


def _mirror_fraction(percentage: Any, legacy_percent: int | None) -> percent_pb2.FractionalPercent:
    """istiod's ``mirrorPercent``: given percentage, else legacy integer percent, else 100 %."""
    if percentage is not None:
        return _million(percentage)
    if legacy_percent is not None:
        return _hundred(legacy_percent)
    return _hundred(100)


def _set_mirrors(action: rc.RouteAction, vs: VirtualService, http: Any, ctx: RouteContext) -> None:
    mirrors: list[tuple[Any, percent_pb2.FractionalPercent]] = []
    if http.mirror is not None:
        mirrors.append((http.mirror, _mirror_fraction(http.mirror_percentage, http.mirror_percent)))
    for mirror in http.mirrors:
        mirrors.append((mirror.destination, _mirror_fraction(mirror.percentage, None)))
    for destination, fraction in mirrors:
        if fraction.numerator == 0:
            continue  # an explicit 0 % means no mirror
        policy = rc.RouteAction.RequestMirrorPolicy(
            cluster=_destination_cluster(vs, destination, ctx)
        )
        policy.trace_sampled.value = False
        policy.runtime_fraction.default_value.CopyFrom(fraction)
        action.request_mirror_policies.append(policy)


def _set_redirect(route: rc.Route, redirect: Any, ctx: RouteContext) -> bool:
    code = _REDIRECT_CODES.get(redirect.redirect_code or 0)
    if code is None:
        return False
    action = route.redirect
    action.response_code = code
    if redirect.uri:
        action.path_redirect = redirect.uri
    elif redirect.prefix_rewrite:
        action.prefix_rewrite = redirect.prefix_rewrite
    if redirect.authority:
        action.host_redirect = redirect.authority
    if redirect.scheme:
        action.scheme_redirect = redirect.scheme
    port = redirect.port or (ctx.port if redirect.derive_port == "FROM_REQUEST_PORT" else 0)
    # The scheme's default port is left out of the Location, as Istio does.
    scheme = redirect.scheme or "http"
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        action.port_redirect = port
    return True


def _operation(route: rc.Route, vs: VirtualService, port: int) -> str:
    """istiod's ``getRouteOperation`` (the tracing span name): ``<host>:<port><path>`` for a route
    to one cluster, else ``<vs name>:<port><path>``; the path is ``<prefix>*``, the exact path or
    the regex."""
    match = route.match
    specifier = match.WhichOneof("path_specifier")
    path = "/*"
    if specifier == "prefix":
        path = match.prefix + "*"
    elif specifier == "path":
        path = match.path
    elif specifier == "safe_regex":
        path = match.safe_regex.regex
    cluster = route.route.cluster if route.WhichOneof("action") == "route" else ""
    key = naming.parse_cluster_name(cluster) if cluster else None
    owner = key.host if key is not None else vs.name
    return f"{owner}:{port}{path}"


def _set_cors(route: rc.Route, cors: Any) -> None:
    """istiod's ``TranslateCORSPolicy`` as the route's config of the (always present) CORS
    filter. Preflights that match no policy go on to the app unless ``unmatchedPreflights:
    IGNORE`` (Envoy's own default since 1.30 is to answer them)."""
    if cors is None:
        return
    policy = cors_pb2.CorsPolicy(
        allow_methods=",".join(cors.allow_methods),
        allow_headers=",".join(cors.allow_headers),
        expose_headers=",".join(cors.expose_headers),
    )
    policy.forward_not_matching_preflights.value = cors.unmatched_preflights != "IGNORE"
    if cors.allow_origins:
        policy.allow_origin_string_match.extend(string_matcher(o) for o in cors.allow_origins)
    else:
        policy.allow_origin_string_match.extend(
            string_pb2.StringMatcher(exact=o) for o in cors.allow_origin
        )
    policy.filter_enabled.default_value.CopyFrom(_hundred(100))
    if cors.allow_credentials is not None:
        policy.allow_credentials.value = cors.allow_credentials
    if cors.max_age is not None:
        policy.max_age = str(int(cors.max_age.total_seconds()))
    packed = any_pb2.Any()
    packed.Pack(policy)
    route.typed_per_filter_config[CORS_FILTER].CopyFrom(packed)
