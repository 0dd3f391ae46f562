"""networking.istio.io VirtualService: how requests to a host are routed (istio/api virtual_service.proto).

Field names are the snake_case of the proto fields; the wire (YAML) uses camelCase.
Structural checks only (types, enums, required fields, one-ofs); Istio's semantic rules
(hosts, weights, retryOn tokens, regexes, …) live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import Percent, PortSelector, check_at_most_one
from mainsail.config.wire_types import Bool, Duration, Int32, UInt32


class StringMatch(WireModel):
    """Match a string exactly, by prefix or by RE2 regex; the CRD allows at most one to be set."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        check_at_most_one(self, "exact", "prefix", "regex")
        return self


class Destination(WireModel):
    """A service (``host``), optionally a ``subset`` of it and a ``port``."""

    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(WireModel):
    """Headers.HeaderOperations: overwrite (``set``), append (``add``) or ``remove`` headers."""

    set: Mapping[str, str] = Field(default_factory=dict)
    add: Mapping[str, str] = Field(default_factory=dict)
    remove: tuple[str, ...] = ()


class Headers(WireModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPMatchRequest(WireModel):
    """One HTTP match condition; all of its fields must match (AND)."""

    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: Mapping[str, StringMatch] = Field(default_factory=dict)
    port: UInt32 | None = None
    source_labels: Mapping[str, str] = Field(default_factory=dict)
    gateways: tuple[str, ...] = ()
    query_params: Mapping[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: Bool | None = None
    without_headers: Mapping[str, StringMatch] = Field(default_factory=dict)
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HTTPRouteDestination(WireModel):
    destination: Destination
    weight: Int32 | None = None
    headers: Headers | None = None


class RouteDestination(WireModel):
    """A TCP/TLS route destination and its weight."""

    destination: Destination
    weight: Int32 | None = None


class HTTPRedirect(WireModel):
    uri: str | None = None
    authority: str | None = None
    port: UInt32 | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: UInt32 | None = None
    prefix_rewrite: str | None = None

    @model_validator(mode="after")
    def _one_port(self) -> Self:
        check_at_most_one(self, "port", "derive_port")
        return self


class HTTPBody(WireModel):
    string: str | None = None
    bytes: str | None = None  # base64, as protobuf JSON writes ``bytes``

    @model_validator(mode="after")
    def _one_body(self) -> Self:
        check_at_most_one(self, "string", "bytes")
        return self


class HTTPDirectResponse(WireModel):
    status: UInt32
    body: HTTPBody | None = None


class Delegate(WireModel):
    name: str | None = None
    namespace: str | None = None


class RegexRewrite(WireModel):
    match: str | None = None
    rewrite: str | None = None


class HTTPRewrite(WireModel):
    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(WireModel):
    attempts: Int32 | None = None
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_remote_localities: Bool | None = None
    retry_ignore_previous_hosts: Bool | None = None
    backoff: Duration | None = None


class CorsPolicy(WireModel):
    allow_origin: tuple[str, ...] = ()  # deprecated: use allow_origins
    allow_origins: tuple[StringMatch, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: Duration | None = None
    allow_credentials: Bool | None = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class FaultDelay(WireModel):
    """HTTPFaultInjection.Delay; ``percent`` is the deprecated integer form of ``percentage``."""

    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percentage: Percent | None = None
    percent: Int32 | None = None

    @model_validator(mode="after")
    def _one_delay(self) -> Self:
        check_at_most_one(self, "fixed_delay", "exponential_delay")
        return self


class FaultAbort(WireModel):
    http_status: Int32 | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _one_error(self) -> Self:
        check_at_most_one(self, "http_status", "grpc_status", "http2_error")
        return self


class HTTPFaultInjection(WireModel):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(WireModel):
    destination: Destination
    percentage: Percent | None = None


class HTTPRoute(WireModel):
    """One HTTP route: matches, then exactly one of route / redirect / directResponse / delegate."""

    name: str | None = None
    match: tuple[HTTPMatchRequest, ...] = ()
    route: tuple[HTTPRouteDestination, ...] = ()
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: tuple[HTTPMirrorPolicy, ...] = ()
    mirror_percent: UInt32 | None = Field(
        default=None,
        validation_alias=AliasChoices("mirrorPercent", "mirror_percent"),
        serialization_alias="mirrorPercent",
    )  # deprecated: use mirror_percentage
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(WireModel):
    destination_subnets: tuple[str, ...] = ()
    port: UInt32 | None = None
    source_subnet: str | None = None
    source_labels: Mapping[str, str] = Field(default_factory=dict)
    gateways: tuple[str, ...] = ()
    source_namespace: str | None = None


class TLSMatchAttributes(WireModel):
    sni_hosts: tuple[str, ...]
    destination_subnets: tuple[str, ...] = ()
    port: UInt32 | None = None
    source_labels: Mapping[str, str] = Field(default_factory=dict)
    gateways: tuple[str, ...] = ()
    source_namespace: str | None = None


class TCPRoute(WireModel):
    match: tuple[L4MatchAttributes, ...] = ()
    route: tuple[RouteDestination, ...] = ()


class TLSRoute(WireModel):
    match: tuple[TLSMatchAttributes, ...]
    route: tuple[RouteDestination, ...] = ()


class VirtualServiceSpec(WireModel):
    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    http: tuple[HTTPRoute, ...] = ()
    tls: tuple[TLSRoute, ...] = ()
    tcp: tuple[TCPRoute, ...] = ()
    export_to: tuple[str, ...] = ()


class VirtualService(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["VirtualService"] = "VirtualService"
    spec: VirtualServiceSpec = Field(default_factory=VirtualServiceSpec)
    status: Mapping[str, object] | None = None
