"""Istio's tracing on every HTTP connection manager: Envoy's Zipkin or OpenTelemetry tracer.

What istiod's ``buildHCMTracing`` (``pilot/pkg/networking/core/tracing.go``) sets, from MeshConfig:

- the provider: ``defaultProviders.tracing[0]``, an ``extensionProviders`` entry with ``zipkin``
  (``envoy.tracers.zipkin``: HTTP_JSON to ``/api/v2/spans``, 128-bit trace ids, B3 headers, no
  shared span context, so client and server of a hop each report their own span) or
  ``opentelemetry`` (``envoy.tracers.opentelemetry``: OTLP over gRPC, or HTTP when ``http`` is
  set; W3C ``traceparent``). No provider, an unknown one or ``enableTracing: false``: no tracing;
- sampling: ``client_sampling`` and ``overall_sampling`` 100 %, ``random_sampling`` =
  ``defaultConfig.tracing.sampling`` (istiod's default 1 %); the decision travels in
  ``x-request-id`` (Envoy's default UUID request id extension, which every HCM keeps);
- ``max_path_tag_length``: the provider's ``maxTagLength`` (default 256);
- custom tags, literals of the proxy: ``istio.canonical_revision``, ``istio.canonical_service``,
  ``istio.mesh_id``, ``istio.namespace``, ``istio.cluster_id``.

Span names come from the route decorators (``<host>:<port>/*``), set where routes are built.

The tracer sends to a cluster: the provider service's outbound cluster when the proxy sees that
service, else a cluster of its own with the same name (``tracing_clusters``: STATIC for an IP
address, STRICT_DNS for a name), so a collector outside the mesh (the control plane's built-in
one) needs no ServiceEntry. Pure: reads only the MeshConfig and the proxy view.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, grpc_service_pb2, http_uri_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.tracing.v3 import custom_tag_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2

from mainsail import naming
from mainsail.config.extension_providers import ExtensionProvider
from mainsail.config.istio.telemetry import CustomTag
from mainsail.config.mesh import MeshConfig
from mainsail.config.tracing import DEFAULT_MAX_TAG_LENGTH, DEFAULT_SAMPLING
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.telemetry import TracingSpec, fetch_provider, resolve_telemetry
from mainsail.snapshot.view import ProxyView
from mainsail.xds.cluster_policies import HTTP_OPTIONS_KEY
from mainsail.xds.telemetry_peer import workload_identity

ZIPKIN_TRACER = "envoy.tracers.zipkin"
OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry"
ZIPKIN_PATH = "/api/v2/spans"
OTLP_HTTP_PATH = "/v1/traces"
# istiod's default timeout for an OpenTelemetry HTTP export when the provider sets none.
_DEFAULT_OTLP_HTTP_TIMEOUT = duration_pb2.Duration(seconds=5)
_CONNECT_TIMEOUT = duration_pb2.Duration(seconds=1)


@dataclass(frozen=True, slots=True)
class TracingProvider:
    """The chosen provider, reduced to what the tracer config and its cluster need."""

    name: str
    kind: str  # "zipkin" | "opentelemetry"
    service: str
    port: int
    max_tag_length: int
    cluster: str


def tracing_provider(mesh: MeshConfig, name: str | None = None) -> TracingProvider | None:
    """The tracing provider ``name`` (default: MeshConfig ``defaultProviders.tracing[0]``), or
    None when tracing is off (``enableTracing: false``, no provider, or one that is not zipkin
    or opentelemetry — istiod then configures no tracer either)."""
    if not mesh.enable_tracing:
        return None
    if name is None:
        if not mesh.default_providers.tracing:
            return None
        name = mesh.default_providers.tracing[0]
    provider = fetch_provider(mesh, name)
    return _provider(provider) if provider is not None else None


def _provider(provider: ExtensionProvider) -> TracingProvider | None:
    spec = provider.zipkin or provider.opentelemetry
    if spec is None:
        return None
    return TracingProvider(
        name=provider.name,
        kind="zipkin" if provider.zipkin is not None else "opentelemetry",
        service=spec.service,
        port=spec.port,
        max_tag_length=spec.max_tag_length or DEFAULT_MAX_TAG_LENGTH,
        cluster=naming.build_outbound_cluster(spec.port, spec.service),
    )


def sampling_percentage(mesh: MeshConfig) -> float:
    sampling = mesh.default_config.tracing.sampling
    return DEFAULT_SAMPLING if sampling is None else sampling


def mode_provider(mesh: MeshConfig, spec: TracingSpec | None) -> TracingProvider | None:
    """The provider of one mode: the Telemetry API's (resolved ``TracingSpec``) when there is
    one, else MeshConfig's default; None when that mode does not trace."""
    if spec is None:
        return tracing_provider(mesh)
    if spec.disabled or spec.provider is None:
        return None
    return tracing_provider(mesh, spec.provider)


def hcm_tracing(
    mesh: MeshConfig, view: ProxyView, spec: TracingSpec | None = None
) -> hcm_pb2.HttpConnectionManager.Tracing | None:
    """The ``tracing`` of this proxy's HTTP connection managers of one mode (``spec``: the
    Telemetry API's for that mode, if any), or None for no tracing. Sampling: Telemetry
    ``randomSamplingPercentage`` > ``defaultConfig.tracing.sampling`` > 1 % (istiod's order)."""
    provider = mode_provider(mesh, spec)
    if provider is None:
        return None
    sampling = sampling_percentage(mesh)
    tags = _service_tags(mesh, view)
    if spec is not None:
        if spec.random_sampling_percentage is not None:
            sampling = spec.random_sampling_percentage
        if spec.enable_istio_tags is False:
            tags = []
        tags += [_custom_tag(name, tag) for name, tag in spec.custom_tags]
    return hcm_pb2.HttpConnectionManager.Tracing(
        client_sampling=percent_pb2.Percent(value=100.0),
        random_sampling=percent_pb2.Percent(value=sampling),
        overall_sampling=percent_pb2.Percent(value=100.0),
        max_path_tag_length={"value": provider.max_tag_length},
        custom_tags=tags,
        provider=_tracer(mesh, view, provider),
    )


def _custom_tag(name: str, tag: CustomTag) -> custom_tag_pb2.CustomTag:
    """A Telemetry ``customTags`` entry as Envoy's (istiod's ``buildCustomTags``)."""
    out = custom_tag_pb2.CustomTag(tag=name)
    if tag.literal is not None:
        out.literal.value = tag.literal.value
    elif tag.environment is not None:
        out.environment.name = tag.environment.name
        out.environment.default_value = tag.environment.default_value
    elif tag.header is not None:
        out.request_header.name = tag.header.name
        out.request_header.default_value = tag.header.default_value
    elif tag.formatter is not None:
        out.value = tag.formatter.value
    return out


def _service_tags(mesh: MeshConfig, view: ProxyView) -> list[custom_tag_pb2.CustomTag]:
    own = workload_identity(view.node)
    extra = dict(view.node.extra)
    values = {
        "istio.canonical_revision": own.canonical_revision,
        "istio.canonical_service": own.canonical_service,
        # The injector's default MESH_ID is the trust domain.
        "istio.mesh_id": extra.get("MESH_ID") or mesh.trust_domain,
        "istio.namespace": view.node.namespace or "default",
        "istio.cluster_id": own.cluster,
    }
    return [
        custom_tag_pb2.CustomTag(tag=tag, literal=custom_tag_pb2.CustomTag.Literal(value=value))
        for tag, value in values.items()
    ]


def _tracer(
    mesh: MeshConfig, view: ProxyView, provider: TracingProvider
) -> http_tracer_pb2.Tracing.Http:
    spec = fetch_provider(mesh, provider.name)
    assert spec is not None  # tracing_provider found it
    tracer = http_tracer_pb2.Tracing.Http()
    if spec.zipkin is not None:
        zipkin = spec.zipkin
        tracer.name = ZIPKIN_TRACER
        tracer.typed_config.Pack(
            zipkin_pb2.ZipkinConfig(
                collector_cluster=provider.cluster,
                collector_endpoint=zipkin.path or ZIPKIN_PATH,
                collector_endpoint_version=zipkin_pb2.ZipkinConfig.HTTP_JSON,
                collector_hostname=provider.service,
                trace_id_128bit=not zipkin.enable_64bit_trace_id,
                shared_span_context={"value": False},
                trace_context_option=zipkin_pb2.ZipkinConfig.TraceContextOption.Value(
                    zipkin.trace_context_option
                ),
            )
        )
        return tracer
    otel = spec.opentelemetry
    assert otel is not None  # _provider admits only zipkin and opentelemetry
    own = workload_identity(view.node)
    config = opentelemetry_pb2.OpenTelemetryConfig(
        service_name=f"{own.canonical_service}.{own.namespace}"
    )
    if otel.http is not None:
        timeout = _DEFAULT_OTLP_HTTP_TIMEOUT
        if otel.http.timeout is not None:
            timeout = duration_pb2.Duration()
            timeout.FromTimedelta(otel.http.timeout)
        config.http_service.http_uri.CopyFrom(
            http_uri_pb2.HttpUri(
                uri=f"http://{provider.service}:{provider.port}{otel.http.path or OTLP_HTTP_PATH}",
                cluster=provider.cluster,
                timeout=timeout,
            )
        )
    else:
        config.grpc_service.CopyFrom(
            grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(
                    cluster_name=provider.cluster, authority=provider.service
                )
            )
        )
        if otel.grpc is not None and otel.grpc.timeout is not None:
            config.grpc_service.timeout.FromTimedelta(otel.grpc.timeout)
    tracer.name = OPENTELEMETRY_TRACER
    tracer.typed_config.Pack(config)
    return tracer


def tracing_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    """The tracers' clusters (client and server mode may differ through the Telemetry API) that
    the proxy does not already have as service clusters."""
    node = view.node
    resolved = resolve_telemetry(
        snapshot.telemetries, snapshot.mesh, node.namespace, node.label_map
    ).tracing
    specs = (None,) if resolved is None else (resolved.client, resolved.server)
    providers = {p.cluster: p for s in specs if (p := mode_provider(snapshot.mesh, s)) is not None}
    return [
        _collector_cluster(snapshot.mesh, provider)
        for _, provider in sorted(providers.items())
        if not any(
            service.hostname == provider.service
            and any(p.port == provider.port for p in service.ports)
            for service in view.visible_services
        )
    ]


def _collector_cluster(mesh: MeshConfig, provider: TracingProvider) -> cluster_pb2.Cluster:
    try:
        ipaddress.ip_address(provider.service)
        kind = cluster_pb2.Cluster.STATIC
    except ValueError:
        kind = cluster_pb2.Cluster.STRICT_DNS
    cluster = cluster_pb2.Cluster(
        name=provider.cluster,
        type=kind,
        connect_timeout=_CONNECT_TIMEOUT,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=provider.cluster,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=address_pb2.Address(
                                    socket_address=address_pb2.SocketAddress(
                                        address=provider.service, port_value=provider.port
                                    )
                                )
                            )
                        )
                    ]
                )
            ],
        ),
    )
    if provider.kind == "opentelemetry" and _otlp_grpc(mesh, provider):
        # OTLP/gRPC needs HTTP/2 to the collector.
        options = http_protocol_options_pb2.HttpProtocolOptions()
        options.explicit_http_config.http2_protocol_options.SetInParent()
        cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].Pack(options)
    return cluster


def _otlp_grpc(mesh: MeshConfig, provider: TracingProvider) -> bool:
    spec = fetch_provider(mesh, provider.name)
    return spec is not None and spec.opentelemetry is not None and spec.opentelemetry.http is None


__all__ = [
    "OPENTELEMETRY_TRACER",
    "ZIPKIN_TRACER",
    "TracingProvider",
    "hcm_tracing",
    "mode_provider",
    "sampling_percentage",
    "tracing_clusters",
    "tracing_provider",
]
