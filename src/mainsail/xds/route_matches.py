"""VirtualService ``HTTPMatchRequest`` → Envoy ``RouteMatch`` (uri, ignoreUriCase, headers and
``withoutHeaders`` incl. JWT claims ``@request.auth.claims.*``, method, authority, scheme,
queryParams), as istiod's ``translateRouteMatch``."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2, value_pb2

from mainsail.xds.authz_matchers import jwt_claim
from mainsail.xds.jwt import routing_claim


def string_matcher(value: Any, *, ignore_case: bool = False) -> string_pb2.StringMatcher:
    if value.exact is not None:
        return string_pb2.StringMatcher(exact=value.exact, ignore_case=ignore_case)
    if value.prefix is not None:
        return string_pb2.StringMatcher(prefix=value.prefix, ignore_case=ignore_case)
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=value.regex or ""))


def _is_catch_all_match(value: Any) -> bool:
    """No value, an empty match or regex ``*`` (not valid RE2): a presence match, as istiod's
    (for an empty match istiod sets no specifier, which Envoy also treats as presence)."""
    return value is None or (
        value.exact is None and value.prefix is None and value.regex in (None, "*")
    )


def _header_matcher(name: str, value: Any, *, invert: bool = False) -> rc.HeaderMatcher:
    matcher = rc.HeaderMatcher(name=name, invert_match=invert)
    if _is_catch_all_match(value):
        matcher.present_match = True
    else:
        matcher.string_match.CopyFrom(string_matcher(value))
        if invert:
            matcher.treat_missing_header_as_empty = True
    return matcher


def route_match(match: Any) -> rc.RouteMatch:
    result = rc.RouteMatch()
    ignore_case = bool(match is not None and match.ignore_uri_case)
    uri = match.uri if match is not None else None
    if uri is None:
        result.prefix = "/"
    elif uri.exact is not None:
        result.path = uri.exact
    elif uri.prefix is not None:
        result.prefix = uri.prefix
    else:
        result.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=uri.regex or ""))
    result.case_sensitive.value = not ignore_case
    if match is None:
        return result
    headers = [_header_matcher(n, v) for n, v in match.headers.items() if routing_claim(n) is None]
    headers += [
        _header_matcher(n, v, invert=True)
        for n, v in match.without_headers.items()
        if routing_claim(n) is None
    ]
    result.headers.extend(sorted(headers, key=lambda h: h.name))
    # ``@request.auth.claims.<name>``: the validated JWT's claims (jwt_authn's metadata).
    for names, invert in ((match.headers, False), (match.without_headers, True)):
        for name, value in names.items():
            claims = routing_claim(name)
            if claims is not None:
                claim = jwt_claim(
                    claims, value_pb2.ValueMatcher(string_match=string_matcher(value))
                )
                claim.invert = invert
                result.dynamic_metadata.append(claim)
    for pseudo, value in (
        (":method", match.method),
        (":authority", match.authority),
        (":scheme", match.scheme),
    ):
        if value is not None:
            result.headers.append(_header_matcher(pseudo, value))
    for name, value in sorted(match.query_params.items()):
        param = rc.QueryParameterMatcher(name=name)
        if _is_catch_all_match(value) or (
            value.exact == "" and value.prefix is None and value.regex is None
        ):
            param.present_match = True
        else:
            param.string_match.CopyFrom(string_matcher(value))
        result.query_parameters.append(param)
    return result
