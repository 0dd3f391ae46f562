"""AuthorizationPolicy attributes → Envoy RBAC permissions and principals (istiod's
``authz/model/generator.go`` and ``authz/matcher``), one function per attribute.

Each ``Attribute`` builds the matcher for one value (values are ORed, ``not`` values negated by
the caller) or, for the "extended" attributes (JWT claims, request principals, Envoy metadata),
one matcher for all values at once, as istiod does. An attribute that cannot apply raises
``NotApplicable``: HTTP-only attributes on TCP chains, or a value that is not what the key needs
(``rule.checkError`` then decides whether the rule or only the condition is dropped).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from envoy.config.core.v3 import address_pb2, extension_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.path.match.uri_template.v3 import uri_template_match_pb2
from envoy.type.matcher.v3 import metadata_pb2, path_pb2, regex_pb2, string_pb2, value_pb2
from google.protobuf import any_pb2

JWT_FILTER = "envoy.filters.http.jwt_authn"
# The jwt_authn provider's ``payload_in_metadata`` key (``xds.jwt`` writes it there).
JWT_PAYLOAD = "payload"
SPIFFE_PREFIX = "spiffe://"
_TEMPLATE_ONE = "{*}"
_TEMPLATE_ANY = "{**}"


class NotApplicable(ValueError):
    """The attribute cannot be expressed here (HTTP-only on TCP, or a malformed value)."""


M = TypeVar("M", rbac_pb2.Permission, rbac_pb2.Principal)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribute(Generic[M]):
    """How one AuthorizationPolicy key becomes Envoy matchers: ``one`` per value (ORed), or
    ``many`` for all values together (the extended generators)."""

    one: Callable[[str, str, bool], M] | None = None
    many: Callable[[str, Sequence[str], bool], M] | None = None


# --- string matchers (istiod's matcher/string.go) ----------------------------------------------


def exact(value: str, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(exact=value, ignore_case=ignore_case)


def prefix(value: str, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(prefix=value, ignore_case=ignore_case)


def suffix(value: str, ignore_case: bool = False) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(suffix=value, ignore_case=ignore_case)


def regex(pattern: str) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def wildcard(value: str, with_prefix: str = "") -> string_pb2.StringMatcher:
    """Istio's value syntax: ``*`` = anything non-empty, ``*x`` suffix, ``x*`` prefix, else exact;
    ``with_prefix`` is prepended (``spiffe://`` for principals)."""
    if value == "*":
        return regex(".+")
    if value.startswith("*"):
        if not with_prefix:
            return suffix(value[1:])
        return regex(with_prefix + ".*" + _quote(value[1:]))
    if value.endswith("*"):
        return prefix(with_prefix + value[:-1])
    return exact(with_prefix + value)


def _quote(text: str) -> str:
    """Go's ``regexp.QuoteMeta`` (RE2 syntax): escape exactly its metacharacters."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def string_value(value: str) -> value_pb2.ValueMatcher:
    return value_pb2.ValueMatcher(string_match=wildcard(value))


def any_of(matchers: Sequence[value_pb2.ValueMatcher]) -> value_pb2.ValueMatcher:
    if len(matchers) == 1:
        return matchers[0]
    return value_pb2.ValueMatcher(or_match=value_pb2.OrMatcher(value_matchers=list(matchers)))


def header(name: str, value: str, ignore_case: bool = False) -> rc.HeaderMatcher:
    """``*`` = present; ``*x``/``x*`` suffix/prefix; else exact (``:authority`` ignores case)."""
    if value == "*":
        return rc.HeaderMatcher(name=name, present_match=True)
    if value.startswith("*"):
        return rc.HeaderMatcher(name=name, string_match=suffix(value[1:], ignore_case))
    if value.endswith("*"):
        return rc.HeaderMatcher(name=name, string_match=prefix(value[:-1], ignore_case))
    return rc.HeaderMatcher(name=name, string_match=exact(value, ignore_case))


def metadata_value(
    filter_name: str, path: Sequence[str], value: value_pb2.ValueMatcher
) -> metadata_pb2.MetadataMatcher:
    return metadata_pb2.MetadataMatcher(
        filter=filter_name,
        path=[metadata_pb2.MetadataMatcher.PathSegment(key=k) for k in path],
        value=value,
    )


def metadata_list_or_value(
    filter_name: str, path: Sequence[str], value: value_pb2.ValueMatcher
) -> metadata_pb2.MetadataMatcher:
    """A claim may be a list or a single value: match one element, or the value itself."""
    as_list = value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=value))
    return metadata_value(
        filter_name,
        path,
        value_pb2.ValueMatcher(or_match=value_pb2.OrMatcher(value_matchers=[as_list, value])),
    )


def jwt_claim(claims: Sequence[str], value: value_pb2.ValueMatcher) -> metadata_pb2.MetadataMatcher:
    return metadata_list_or_value(JWT_FILTER, [JWT_PAYLOAD, *claims], value)


def cidr(value: str) -> address_pb2.CidrRange:
    """istiod's ``AddrStrToCidrRange``: an address is a /32 (/128); a prefix keeps its host bits."""
    if not value:
        raise NotApplicable("empty address")
    try:
        if "/" in value:
            address, _, bits = value.partition("/")
            network = ipaddress.ip_network(value, strict=False)
            length = int(bits)
            if network.prefixlen != length:
                raise ValueError(value)
            ip = ipaddress.ip_address(address)
        else:
            ip = ipaddress.ip_address(value)
            length = ip.max_prefixlen
    except ValueError:
        raise NotApplicable(f"invalid IP address or CIDR {value!r}") from None
    result = address_pb2.CidrRange(address_prefix=str(ip))
    result.prefix_len.value = length
    return result


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise NotApplicable(f"invalid port {value!r}")
    return int(value)


def _http_only(key: str, for_tcp: bool) -> None:
    if for_tcp:
        raise NotApplicable(f"{key!r} is HTTP only")


def bracketed(text: str) -> str:
    """``[name]`` → ``name``."""
    if not (text.startswith("[") and text.endswith("]")):
        raise NotApplicable(f"expecting format [<NAME>], but found {text!r}")
    return text[1:-1]


def nested_bracketed(text: str) -> list[str]:
    """``[a][b]`` → ``[a, b]``; anything else is one bracketed name (``[a.b]`` → ``[a.b]``)."""
    names: list[str] = []
    begin = 0
    while begin < len(text):
        end = _closing(text, begin)
        if end < 0:
            return [bracketed(text)]
        names.append(text[begin + 1 : end])
        begin = end + 1
    return names


def _closing(text: str, begin: int) -> int:
    if begin >= len(text) or text[begin] != "[":
        return -1
    for i in range(begin + 1, len(text)):
        if text[i] == "[":
            return -1
        if text[i] == "]":
            return i
    return -1


# --- permissions ------------------------------------------------------------------------------


def _dest_ip(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(destination_ip=cidr(value))


def _dest_port(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(destination_port=_port(value))


def _sni(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(requested_server_name=wildcard(value))


def _host(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    _http_only(key, for_tcp)
    return rbac_pb2.Permission(header=header(":authority", value, ignore_case=True))


def _method(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    _http_only(key, for_tcp)
    return rbac_pb2.Permission(header=header(":method", value))


def _path(key: str, value: str, for_tcp: bool) -> rbac_pb2.Permission:
    _http_only(key, for_tcp)
    if _TEMPLATE_ONE in value or _TEMPLATE_ANY in value:
        template = uri_template_match_pb2.UriTemplateMatchConfig(
            path_template=value.replace(_TEMPLATE_ANY, "**").replace(_TEMPLATE_ONE, "*")
        )
        packed = any_pb2.Any()
        packed.Pack(template)
        return rbac_pb2.Permission(
            uri_template=extension_pb2.TypedExtensionConfig(
                name="uri-template", typed_config=packed
            )
        )
    return rbac_pb2.Permission(url_path=path_pb2.PathMatcher(path=wildcard(value)))


def _envoy_filter_metadata(key: str, values: Sequence[str], for_tcp: bool) -> rbac_pb2.Permission:
    """``experimental.envoy.filters.<filter>[<key>]``: a string (or ``[v]`` list element) in
    the named filter's dynamic metadata."""
    name, sep, rest = key.removeprefix("experimental.").removesuffix("]").partition("[")
    if not sep:
        raise NotApplicable(f"invalid key: {key}")
    matchers = []
    for value in values:
        if value.startswith("[") and value.endswith("]"):
            element = value_pb2.ValueMatcher(string_match=wildcard(value.strip("[]")))
            matchers.append(
                value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=element))
            )
        else:
            matchers.append(string_value(value))
    return rbac_pb2.Permission(metadata=metadata_value(name, [rest], any_of(matchers)))


# --- principals -------------------------------------------------------------------------------


def _authenticated(name: string_pb2.StringMatcher) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(authenticated=rbac_pb2.Principal.Authenticated(principal_name=name))


def _src_ip(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(direct_remote_ip=cidr(value))


def _remote_ip(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(remote_ip=cidr(value))


def _namespace(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    pattern = ".*".join(_quote(part) for part in value.split("*"))
    return _authenticated(regex(f".*/ns/{pattern}/.*"))


def service_account_regex(default_namespace: str, value: str) -> str:
    namespace, sep, account = value.partition("/")
    if not sep:
        namespace, account = default_namespace, value
    return f"spiffe://.+/ns/{_quote(namespace)}/(.+/|)sa/{_quote(account)}(/.+)?"


def service_account(policy_namespace: str) -> Attribute[rbac_pb2.Principal]:
    def build(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
        return _authenticated(regex(service_account_regex(policy_namespace, value)))

    return Attribute(one=build)


def _trust_domain(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    if value == "*":
        return _authenticated(prefix(SPIFFE_PREFIX))
    if "*" not in value:
        return _authenticated(prefix(f"{SPIFFE_PREFIX}{value}/"))
    head, _, tail = value.partition("*")
    return _authenticated(regex(f"spiffe://{_quote(head)}[^/]*{_quote(tail)}/.*"))


def _principal(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    return _authenticated(wildcard(value, SPIFFE_PREFIX))


def principal_metadata(matcher: metadata_pb2.MetadataMatcher) -> rbac_pb2.Principal:
    """A dynamic-metadata principal. istiod sets ``Principal.metadata``, which Envoy 1.40
    deprecates (a warning per use); ``sourced_metadata`` from DYNAMIC metadata (its default
    source) is the same match, so we emit that."""
    return rbac_pb2.Principal(sourced_metadata=rbac_pb2.SourcedMetadata(metadata_matcher=matcher))


def _claim_string(claim: str, matcher: string_pb2.StringMatcher) -> rbac_pb2.Principal:
    return principal_metadata(
        metadata_value(
            JWT_FILTER, [JWT_PAYLOAD, claim], value_pb2.ValueMatcher(string_match=matcher)
        )
    )


def _request_principals(key: str, values: Sequence[str], for_tcp: bool) -> rbac_pb2.Principal:
    """``iss/sub`` (split at the last ``/``), each side may be ``*`` or have a ``*`` end."""
    _http_only(key, for_tcp)
    anything = regex(".+")
    ored = []
    for value in values:
        issuer, found, subject = value.rpartition("/")
        if not found:
            issuer, subject = value, ""
        if value == "*":
            match_iss, match_sub = anything, anything
        elif value.startswith("*"):
            if found:
                match_iss = anything if issuer == "*" else suffix(issuer[1:])
                match_sub = exact(subject)
            else:
                match_iss, match_sub = anything, suffix(value[1:])
        elif value.endswith("*"):
            if found:
                match_iss = exact(issuer)
                match_sub = anything if subject == "*" else prefix(subject[:-1])
            else:
                match_iss, match_sub = prefix(value[:-1]), anything
        else:
            match_iss, match_sub = exact(issuer), exact(subject)
        ored.append(
            principal_and([_claim_string("iss", match_iss), _claim_string("sub", match_sub)])
        )
    return ored[0] if len(ored) == 1 else principal_or(ored)


def _claim_list(claims: Sequence[str]) -> Callable[[str, Sequence[str], bool], rbac_pb2.Principal]:
    def build(key: str, values: Sequence[str], for_tcp: bool) -> rbac_pb2.Principal:
        _http_only(key, for_tcp)
        return principal_metadata(jwt_claim(claims, any_of([string_value(v) for v in values])))

    return build


def _request_claims(key: str, values: Sequence[str], for_tcp: bool) -> rbac_pb2.Principal:
    _http_only(key, for_tcp)
    claims = nested_bracketed(key.removeprefix("request.auth.claims"))
    return _claim_list(claims)(key, values, for_tcp)


def _request_header(key: str, value: str, for_tcp: bool) -> rbac_pb2.Principal:
    _http_only(key, for_tcp)
    name = bracketed(key.removeprefix("request.headers"))
    return rbac_pb2.Principal(header=header(name, value))


# --- combinators ------------------------------------------------------------------------------


def permission_any() -> rbac_pb2.Permission:
    return rbac_pb2.Permission(any=True)


def permission_and(rules: Sequence[rbac_pb2.Permission]) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(and_rules=rbac_pb2.Permission.Set(rules=list(rules)))


def permission_or(rules: Sequence[rbac_pb2.Permission]) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(or_rules=rbac_pb2.Permission.Set(rules=list(rules)))


def permission_not(rule: rbac_pb2.Permission) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(not_rule=rule)


def principal_any() -> rbac_pb2.Principal:
    return rbac_pb2.Principal(any=True)


def principal_and(ids: Sequence[rbac_pb2.Principal]) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(and_ids=rbac_pb2.Principal.Set(ids=list(ids)))


def principal_or(ids: Sequence[rbac_pb2.Principal]) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(or_ids=rbac_pb2.Principal.Set(ids=list(ids)))


def principal_not(principal: rbac_pb2.Principal) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(not_id=principal)


# --- the attribute table ----------------------------------------------------------------------

DEST_IP: Attribute[rbac_pb2.Permission] = Attribute(one=_dest_ip)
DEST_PORT: Attribute[rbac_pb2.Permission] = Attribute(one=_dest_port)
SNI: Attribute[rbac_pb2.Permission] = Attribute(one=_sni)
HOSTS: Attribute[rbac_pb2.Permission] = Attribute(one=_host)
METHODS: Attribute[rbac_pb2.Permission] = Attribute(one=_method)
PATHS: Attribute[rbac_pb2.Permission] = Attribute(one=_path)
ENVOY_FILTER: Attribute[rbac_pb2.Permission] = Attribute(many=_envoy_filter_metadata)

SOURCE_IP: Attribute[rbac_pb2.Principal] = Attribute(one=_src_ip)
REMOTE_IP: Attribute[rbac_pb2.Principal] = Attribute(one=_remote_ip)
NAMESPACES: Attribute[rbac_pb2.Principal] = Attribute(one=_namespace)
TRUST_DOMAINS: Attribute[rbac_pb2.Principal] = Attribute(one=_trust_domain)
PRINCIPALS: Attribute[rbac_pb2.Principal] = Attribute(one=_principal)
REQUEST_PRINCIPALS: Attribute[rbac_pb2.Principal] = Attribute(many=_request_principals)
REQUEST_AUDIENCES: Attribute[rbac_pb2.Principal] = Attribute(many=_claim_list(["aud"]))
REQUEST_PRESENTER: Attribute[rbac_pb2.Principal] = Attribute(many=_claim_list(["azp"]))
REQUEST_CLAIMS: Attribute[rbac_pb2.Principal] = Attribute(many=_request_claims)
REQUEST_HEADER: Attribute[rbac_pb2.Principal] = Attribute(one=_request_header)
