"""MeshConfig ``extensionProviders`` → Envoy ext_authz filter configs for AuthorizationPolicy
CUSTOM (istiod's ``authz/builder/extauthz.go``).

A provider that is invalid (bad port, unknown service, bad ``statusOnError``, a lone ``*`` in a
header list) yields a ``ProviderError``; the caller then denies what the CUSTOM policy would
have sent to it, as istiod does.

Reads: MeshConfig extension providers, services (the provider's cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2, http_uri_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2 as http_authz
from envoy.extensions.filters.network.ext_authz.v3 import ext_authz_pb2 as tcp_authz
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from envoy.type.v3 import http_status_pb2

from mainsail import naming
from mainsail.config.extension_providers import (
    DEFAULT_EXT_AUTHZ_TIMEOUT,
    EnvoyExtAuthzGrpc,
    EnvoyExtAuthzHttp,
    ExtAuthzRequestBody,
    ExtensionProvider,
)
from mainsail.registry.model import MeshService
from mainsail.xds.protos import duration

EXT_AUTHZ_PREFIX = "istio-ext-authz"
EXT_AUTHZ_SHADOW_PREFIX = "istio_ext_authz_"
SHADOW_EFFECTIVE_POLICY_ID = "shadow_effective_policy_id"
BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"
HTTP_RBAC_FILTER = "envoy.filters.http.rbac"
TCP_RBAC_FILTER = "envoy.filters.network.rbac"


class ProviderError(ValueError):
    """A CUSTOM policy's provider cannot be used (the message says which and why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtAuthz:
    """One provider's filters: HTTP always; TCP only for gRPC providers."""

    http: http_authz.ExtAuthz
    tcp: tcp_authz.ExtAuthz | None = None


def resolve_provider(
    name: str,
    providers: Sequence[ExtensionProvider],
    services: Mapping[str, MeshService],
) -> ExtAuthz:
    """The named provider's filters, or ``ProviderError`` naming the problem."""
    found = [p for p in providers if p.name == name]
    if not found:
        known = sorted(p.name for p in providers)
        raise ProviderError(f"available providers are {known} but found {name!r}")
    if len(found) > 1:
        raise ProviderError(f"extension provider name must be unique, found duplicate: {name}")
    provider = found[0]
    if provider.envoy_ext_authz_http is not None:
        return ExtAuthz(http=_http_provider(name, provider.envoy_ext_authz_http, services))
    if provider.envoy_ext_authz_grpc is not None:
        return _grpc_provider(name, provider.envoy_ext_authz_grpc, services)
    raise ProviderError(f"extension provider {name!r} is not an envoyExtAuthzHttp/Grpc provider")


def _cluster(
    name: str, service: str, port: int, services: Mapping[str, MeshService]
) -> tuple[str, str]:
    """(hostname, outbound cluster) of ``service`` (``host`` or ``namespace/host``)."""
    if not 1 <= port <= 65535:
        raise ProviderError(
            f"provider {name!r}: port must be in the range [1, 65535], found: {port}"
        )
    namespace, sep, host = service.rpartition("/")
    found = services.get(host if sep else service)
    if found is None or (sep and found.namespace != namespace):
        raise ProviderError(
            f"provider {name!r}: could not find service {service} in the service registry"
        )
    return found.hostname, naming.build_outbound_cluster(port, found.hostname)


def _status(name: str, status: str) -> http_status_pb2.HttpStatus | None:
    if not status:
        return None
    valid = set(http_status_pb2.StatusCode.values()) - {0}
    if not status.isdigit() or int(status) not in valid:
        raise ProviderError(f"provider {name!r}: unsupported statusOnError {status!r}")
    return http_status_pb2.HttpStatus(code=int(status))


def _headers(name: str, field: str, headers: Sequence[str]) -> string_pb2.ListStringMatcher | None:
    if not headers:
        return None
    patterns = []
    for value in headers:
        if value == "*":
            raise ProviderError(
                f'provider {name!r}: a single wildcard ("*") is not supported in {field}, '
                "change it to either prefix or suffix match"
            )
        if value.startswith("*"):
            patterns.append(string_pb2.StringMatcher(suffix=value[1:], ignore_case=True))
        elif value.endswith("*"):
            patterns.append(string_pb2.StringMatcher(prefix=value[:-1], ignore_case=True))
        else:
            patterns.append(string_pb2.StringMatcher(exact=value, ignore_case=True))
    return string_pb2.ListStringMatcher(patterns=patterns)


def _timeout(value: timedelta | None) -> timedelta:
    return DEFAULT_EXT_AUTHZ_TIMEOUT if value is None else value


def _body(body: ExtAuthzRequestBody | None) -> http_authz.BufferSettings | None:
    if body is None:
        return None
    return http_authz.BufferSettings(
        max_request_bytes=body.max_request_bytes,
        allow_partial_message=body.allow_partial_message,
        pack_as_bytes=body.pack_as_bytes,
    )


def enabled_for(filter_name: str, provider: str) -> metadata_pb2.MetadataMatcher:
    """ext_authz runs only when the shadow RBAC in front matched a policy of this provider."""
    return metadata_pb2.MetadataMatcher(
        filter=filter_name,
        path=[
            metadata_pb2.MetadataMatcher.PathSegment(
                key=EXT_AUTHZ_SHADOW_PREFIX + SHADOW_EFFECTIVE_POLICY_ID
            )
        ],
        value=value_pb2.ValueMatcher(
            string_match=string_pb2.StringMatcher(prefix=f"{EXT_AUTHZ_PREFIX}-{provider}")
        ),
    )


def _http_provider(
    name: str, config: EnvoyExtAuthzHttp, services: Mapping[str, MeshService]
) -> http_authz.ExtAuthz:
    hostname, cluster = _cluster(name, config.service, config.port, services)
    status = _status(name, config.status_on_error)
    if config.path_prefix and not config.path_prefix.startswith("/"):
        raise ProviderError(
            f"provider {name!r}: pathPrefix must begin with `/`, found: {config.path_prefix!r}"
        )
    allowed = _headers(
        name, "includeRequestHeadersInCheck", config.include_request_headers_in_check
    )
    if allowed is None:
        allowed = _headers(name, "includeHeadersInCheck", config.include_headers_in_check)
    upstream = _headers(name, "headersToUpstreamOnAllow", config.headers_to_upstream_on_allow)
    on_deny = _headers(name, "headersToDownstreamOnDeny", config.headers_to_downstream_on_deny)
    on_allow = _headers(name, "headersToDownstreamOnAllow", config.headers_to_downstream_on_allow)
    service = http_authz.HttpService(
        path_prefix=config.path_prefix,
        server_uri=http_uri_pb2.HttpUri(
            uri=f"http://{hostname}", cluster=cluster, timeout=duration(_timeout(config.timeout))
        ),
    )
    extra = config.include_additional_headers_in_check
    if extra:
        service.authorization_request.headers_to_add.extend(
            base_pb2.HeaderValue(key=k, value=extra[k]) for k in sorted(extra)
        )
    if upstream is not None or on_deny is not None or on_allow is not None:
        response = service.authorization_response
        response.SetInParent()
        if upstream is not None:
            response.allowed_upstream_headers.CopyFrom(upstream)
        if on_deny is not None:
            response.allowed_client_headers.CopyFrom(on_deny)
        if on_allow is not None:
            response.allowed_client_headers_on_success.CopyFrom(on_allow)
    result = http_authz.ExtAuthz(
        http_service=service,
        failure_mode_allow=config.fail_open,
        transport_api_version=config_source_pb2.V3,
        filter_enabled_metadata=enabled_for(HTTP_RBAC_FILTER, name),
    )
    if status is not None:
        result.status_on_error.CopyFrom(status)
    if allowed is not None:
        result.allowed_headers.CopyFrom(allowed)
    body = _body(config.include_request_body_in_check)
    if body is not None:
        result.with_request_body.CopyFrom(body)
    return result


def _grpc_provider(
    name: str, config: EnvoyExtAuthzGrpc, services: Mapping[str, MeshService]
) -> ExtAuthz:
    hostname, cluster = _cluster(name, config.service, config.port, services)
    status = _status(name, config.status_on_error)
    grpc = grpc_service_pb2.GrpcService(
        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=cluster, authority=hostname),
        timeout=duration(_timeout(config.timeout)),
    )
    http = http_authz.ExtAuthz(
        grpc_service=grpc,
        failure_mode_allow=config.fail_open,
        transport_api_version=config_source_pb2.V3,
        filter_enabled_metadata=enabled_for(HTTP_RBAC_FILTER, name),
    )
    if status is not None:
        http.status_on_error.CopyFrom(status)
    body = _body(config.include_request_body_in_check)
    if body is not None:
        http.with_request_body.CopyFrom(body)
    tcp = tcp_authz.ExtAuthz(
        stat_prefix="tcp.",
        grpc_service=grpc,
        failure_mode_allow=config.fail_open,
        transport_api_version=config_source_pb2.V3,
        filter_enabled_metadata=enabled_for(TCP_RBAC_FILTER, name),
    )
    return ExtAuthz(http=http, tcp=tcp)
