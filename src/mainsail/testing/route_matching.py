"""Envoy's HTTP routing decisions, re-implemented over ``RouteConfiguration`` protos.

The pieces of Envoy's router the traffic simulator (``mainsail.testing.simulator``) needs, each
following Envoy 1.40's source: virtual-host selection (``RouteMatcher::findVirtualHost``), route
matching (``RouteEntryImplBase::matchRoute`` and the path matchers), header and query-parameter
matchers (``HeaderUtility::matchHeaders``, ``QueryParameterMatcher``), path rewrites and the
redirect ``Location`` (``RouteEntryImplBase::newUri``).

RE2 patterns run on Python's ``re`` with full-match semantics, as Envoy's ``safe_regex`` does.
The two dialects agree on what the mesh emits (no look-around or back-references in RE2); a
pattern Python refuses raises ``SimulationError`` just as Envoy would NACK it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2


class SimulationError(Exception):
    """Config the simulator cannot evaluate, or that Envoy itself would reject."""


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise SimulationError(f"invalid regex {pattern!r}: {error}") from error


def regex_full_match(matcher: regex_pb2.RegexMatcher, value: str) -> bool:
    return _compile(matcher.regex).fullmatch(value) is not None


def string_match(matcher: string_pb2.StringMatcher, value: str) -> bool:
    """``envoy.type.matcher.v3.StringMatcher``; ``ignore_case`` does not apply to regexes."""
    kind = matcher.WhichOneof("match_pattern")
    if kind == "safe_regex":
        return regex_full_match(matcher.safe_regex, value)
    if kind is None or kind == "custom":
        raise SimulationError(f"unsupported string matcher {kind!r}")
    expected: str = getattr(matcher, kind)
    if matcher.ignore_case:
        value, expected = value.lower(), expected.lower()
    if kind == "exact":
        return value == expected
    if kind == "prefix":
        return value.startswith(expected)
    if kind == "suffix":
        return value.endswith(expected)
    return expected in value


# --- virtual hosts


def strip_port(host: str) -> str:
    """``HeaderUtility::getPortStart``: drop a numeric ``:port``, never inside ``[v6]``."""
    colon = host.rfind(":")
    if colon < 0 or host.rfind("]") > colon:
        return host
    return host[:colon] if host[colon + 1 :].isdigit() else host


def select_virtual_host(config: route_pb2.RouteConfiguration, host: str) -> rc.VirtualHost | None:
    """Exact domain, then the longest ``*suffix``, then the longest ``prefix*``, then ``*``.

    A wildcard must match at least one character. Hosts and domains compare case-insensitively.
    Duplicate domains make Envoy reject the whole route configuration, so they raise here.
    """
    exact: dict[str, rc.VirtualHost] = {}
    suffixes: list[tuple[str, rc.VirtualHost]] = []
    prefixes: list[tuple[str, rc.VirtualHost]] = []
    default: rc.VirtualHost | None = None
    seen: set[str] = set()
    for vhost in config.virtual_hosts:
        for raw in vhost.domains:
            domain = raw.lower()
            if domain in seen:
                raise SimulationError(
                    f"route config {config.name!r}: duplicate domain {raw!r} (Envoy rejects it)"
                )
            seen.add(domain)
            if domain == "*":
                default = vhost
            elif domain.startswith("*"):
                suffixes.append((domain[1:], vhost))
            elif domain.endswith("*"):
                prefixes.append((domain[:-1], vhost))
            else:
                exact[domain] = vhost
    if config.ignore_port_in_host_matching:
        host = strip_port(host)
    host = host.lower()
    if host in exact:
        return exact[host]
    for suffix, vhost in sorted(suffixes, key=lambda item: -len(item[0])):
        if len(host) > len(suffix) and host.endswith(suffix):
            return vhost
    for prefix, vhost in sorted(prefixes, key=lambda item: -len(item[0])):
        if len(host) > len(prefix) and host.startswith(prefix):
            return vhost
    return default


# --- route matching


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequestView:
    """What the router sees: lower-case header names (pseudo-headers included), the ``:path``
    with its query string, and the path without it."""

    headers: Mapping[str, Sequence[str]]
    path: str  # ``:path`` as normalized by the HCM, query included

    @property
    def path_only(self) -> str:
        """``PathUtil::removeQueryAndFragment``."""
        for separator in ("?", "#"):
            index = self.path.find(separator)
            if index >= 0:
                return self.path[:index]
        return self.path

    def query_params(self) -> dict[str, str]:
        """``QueryParamsMulti::parseQueryString`` (no percent-decoding); first value wins."""
        index = self.path.find("?")
        if index < 0:
            return {}
        query = self.path[index + 1 :].split("#", 1)[0]
        found: dict[str, str] = {}
        for part in query.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            found.setdefault(name, value)
        return found


def header_matches(matcher: rc.HeaderMatcher, request: HttpRequestView) -> bool:
    """``HeaderUtility::matchHeaders``: several values join with ``,``; a missing header matches
    only a present-match (absent/inverted) unless ``treat_missing_header_as_empty``."""
    values = request.headers.get(matcher.name.lower())
    kind = matcher.WhichOneof("header_match_specifier")
    present = kind == "present_match" and matcher.present_match
    if not values and not matcher.treat_missing_header_as_empty:
        if matcher.invert_match:
            return bool(kind == "present_match" and present)
        return bool(kind == "present_match" and not present)
    value = ",".join(values) if values else ""
    if kind == "present_match":
        match = present
    elif kind == "string_match":
        match = string_match(matcher.string_match, value)
    elif kind == "exact_match":
        match = not matcher.exact_match or value == matcher.exact_match
    elif kind == "prefix_match":
        match = value.startswith(matcher.prefix_match)
    elif kind == "suffix_match":
        match = value.endswith(matcher.suffix_match)
    elif kind == "contains_match":
        match = matcher.contains_match in value
    elif kind == "safe_regex_match":
        match = regex_full_match(matcher.safe_regex_match, value)
    elif kind == "range_match":
        match = value.lstrip("-").isdigit() and (
            matcher.range_match.start <= int(value) < matcher.range_match.end
        )
    else:
        match = True  # no specifier: the header only has to be there
    return bool(match != matcher.invert_match)


def query_parameter_matches(matcher: rc.QueryParameterMatcher, params: Mapping[str, str]) -> bool:
    if matcher.name not in params:
        return False
    if matcher.present_match:
        return True
    if matcher.HasField("string_match"):
        return string_match(matcher.string_match, params[matcher.name])
    return True


def _path_matches(match: rc.RouteMatch, request: HttpRequestView) -> bool:
    kind = match.WhichOneof("path_specifier")
    path = request.path_only
    sensitive = not match.HasField("case_sensitive") or match.case_sensitive.value
    if kind == "safe_regex":  # case_sensitive does not apply to regexes
        return regex_full_match(match.safe_regex, path)
    if kind == "connect_matcher":
        return _first(request, ":method") == "CONNECT"
    if kind not in ("prefix", "path", "path_separated_prefix"):
        raise SimulationError(f"unsupported path specifier {kind!r}")
    expected: str = getattr(match, kind)
    if not sensitive:
        path, expected = path.lower(), expected.lower()
    if kind == "path":
        return path == expected
    if kind == "prefix":
        return path.startswith(expected)
    return path.startswith(expected) and (len(path) == len(expected) or path[len(expected)] == "/")


def _first(request: HttpRequestView, name: str) -> str:
    values = request.headers.get(name)
    return values[0] if values else ""


def route_matches(route: rc.Route, request: HttpRequestView) -> bool:
    """``RouteEntryImplBase::matchRoute`` plus the path matcher, for the fields we can see."""
    match = route.match
    if match.HasField("runtime_fraction"):
        fraction = match.runtime_fraction.default_value
        denominator = (100, 10_000, 1_000_000)[fraction.denominator]
        if fraction.numerator < denominator:
            raise SimulationError(f"route {route.name!r}: a partial runtime_fraction is random")
    if match.dynamic_metadata or match.filter_state or match.HasField("tls_context"):
        raise SimulationError(f"route {route.name!r}: metadata/filter-state/TLS matches")
    if not _path_matches(match, request):
        return False
    if match.HasField("grpc") and not _first(request, "content-type").startswith(
        "application/grpc"
    ):
        return False
    if not all(header_matches(h, request) for h in match.headers):
        return False
    if match.query_parameters:
        params = request.query_params()
        if not all(query_parameter_matches(q, params) for q in match.query_parameters):
            return False
    return True


def select_route(vhost: rc.VirtualHost, request: HttpRequestView) -> rc.Route | None:
    """Routes are tried in order; the first match wins."""
    if vhost.HasField("matcher"):
        raise SimulationError(f"virtual host {vhost.name!r}: matcher trees are not simulated")
    return next((r for r in vhost.routes if route_matches(r, request)), None)


# --- rewrites and redirects


def _re2_substitution(substitution: str) -> str:
    """RE2's ``\\0``..``\\9`` become Python's ``\\g<n>``."""
    return re.sub(r"\\(\d)", r"\\g<\1>", substitution)


def rewrite_path(
    route: rc.Route,
    path: str,
    *,
    prefix_rewrite: str = "",
    regex_rewrite: regex_pb2.RegexMatchAndSubstitute | None = None,
) -> str:
    """The path after ``prefix_rewrite`` (the matched prefix, or the whole path for exact and
    regex matches, is replaced) or ``regex_rewrite`` (on the path; the query is kept)."""
    query_at = min((i for i in (path.find("?"), path.find("#")) if i >= 0), default=len(path))
    just_path, rest = path[:query_at], path[query_at:]
    if prefix_rewrite:
        kind = route.match.WhichOneof("path_specifier")
        matched = route.match.prefix if kind == "prefix" else just_path
        if kind == "path_separated_prefix":
            matched = route.match.path_separated_prefix
        return prefix_rewrite + path[len(matched) :]
    if regex_rewrite is not None:
        pattern = _compile(regex_rewrite.pattern.regex)
        return pattern.sub(_re2_substitution(regex_rewrite.substitution), just_path) + rest
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class Redirect:
    code: int
    scheme: str
    host: str
    port: str  # ``:8443``, or empty
    path: str

    @property
    def location(self) -> str:
        return f"{self.scheme}://{self.host}{self.port}{self.path}"


_REDIRECT_CODES = {
    rc.RedirectAction.MOVED_PERMANENTLY: 301,
    rc.RedirectAction.FOUND: 302,
    rc.RedirectAction.SEE_OTHER: 303,
    rc.RedirectAction.TEMPORARY_REDIRECT: 307,
    rc.RedirectAction.PERMANENT_REDIRECT: 308,
}


def _request_host(host: str, new_scheme: str, new_port: str, forwarded_proto: str) -> str:
    """``processRequestHost``: drop the request's port if a new one is set, or if the scheme
    changes away from the request's default port."""
    colon = host.rfind("]:") + 1 if host.startswith("[") else host.rfind(":")
    if colon <= 0:
        return host
    port = host[colon:]
    remove = bool(new_port)
    if new_scheme != forwarded_proto:
        remove |= forwarded_proto == "https" and port == ":443"
        remove |= forwarded_proto == "http" and port == ":80"
    return host[:colon] if remove else host


def redirect_for(route: rc.Route, authority: str, scheme: str, path: str) -> Redirect:
    """``RouteEntryImplBase::newUri``; ``x-forwarded-proto`` is the connection's scheme."""
    action = route.redirect
    kind = action.WhichOneof("scheme_rewrite_specifier")
    new_scheme = (
        action.scheme_redirect
        if kind == "scheme_redirect"
        else "https"
        if kind == "https_redirect" and action.https_redirect
        else scheme
    )
    port = f":{action.port_redirect}" if action.port_redirect else ""
    host = action.host_redirect or _request_host(authority, new_scheme, port, scheme)
    path_kind = action.WhichOneof("path_rewrite_specifier")
    has_query = False
    if path_kind == "path_redirect":
        has_query = "?" in action.path_redirect
        query_at = path.find("?")
        final = action.path_redirect
        if not has_query and query_at >= 0:
            final += path[query_at:]
    elif path_kind == "prefix_rewrite":
        final = rewrite_path(route, path, prefix_rewrite=action.prefix_rewrite)
    elif path_kind == "regex_rewrite":
        final = rewrite_path(route, path, regex_rewrite=action.regex_rewrite)
    else:
        final = path
    if not final.startswith("/"):
        final = "/" + final
    if not has_query and action.strip_query:
        final = final.split("?", 1)[0]
    code = _REDIRECT_CODES.get(action.response_code, 301)
    return Redirect(code=code, scheme=new_scheme, host=host, port=port, path=final)


def normalize_path(path: str, *, merge_slashes: bool) -> str:
    """The HCM's ``normalize_path`` (RFC 3986 dot-segment removal; backslashes become slashes)
    and ``merge_slashes``, on the path part only."""
    query_at = min((i for i in (path.find("?"), path.find("#")) if i >= 0), default=len(path))
    just_path, rest = path[:query_at].replace("\\", "/"), path[query_at:]
    if merge_slashes:
        just_path = re.sub("/{2,}", "/", just_path)
    output: list[str] = []
    segments = just_path.split("/")
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output) + rest
