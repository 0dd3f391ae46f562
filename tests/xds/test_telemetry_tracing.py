"""Tracing translation (``xds.telemetry_tracing``): provider choice, sampling precedence,
tags, the collector cluster and the Telemetry API's client/server specs, as istiod."""

from __future__ import annotations

from typing import Any, TypeAlias

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.trace.v3 import opentelemetry_pb2, zipkin_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail import naming
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.xds.generate import generate
from mainsail.xds.resources import ProxyConfig

from .cases import load_case, proxy_node

ZIPKIN = {"name": "zipkin", "zipkin": {"service": "10.1.2.3", "port": 9411}}
OTEL = {
    "name": "otel",
    "opentelemetry": {"service": "otel.example.com", "port": 4317},
}
_HCM = "envoy.filters.network.http_connection_manager"


def config(mesh: dict[str, Any], extra: str = "") -> ProxyConfig:
    case = load_case("default_routes")
    text = case.text + ("\n---\n" + extra if extra else "")
    parsed = parse_documents(text, source="tracing")
    assert parsed.ok, [str(e) for e in parsed.errors]
    mesh = {"defaultProviders": {"metrics": ["none"], **mesh.pop("defaultProviders", {})}, **mesh}
    snapshot = build_snapshot(parsed.resources, mesh=MeshConfig.model_validate(mesh))
    return generate(snapshot, proxy_node(case))


Tracing: TypeAlias = hcm_pb2.HttpConnectionManager.Tracing


def tracings(cfg: ProxyConfig) -> dict[str, list[Tracing | None]]:
    """Per direction (``inbound``/``outbound``): the tracing of each HCM (None when unset)."""
    out: dict[str, list[Tracing | None]] = {"inbound": [], "outbound": []}
    for resource in cfg.of_type(naming.LISTENER_TYPE).values():
        listener = listener_pb2.Listener()
        resource.body.Unpack(listener)
        inbound = listener.traffic_direction == base_pb2.INBOUND
        for chain in listener.filter_chains:
            for f in chain.filters:
                if f.name == _HCM:
                    manager = hcm_pb2.HttpConnectionManager()
                    f.typed_config.Unpack(manager)
                    found = manager.tracing if manager.HasField("tracing") else None
                    out["inbound" if inbound else "outbound"].append(found)
    assert out["inbound"] and out["outbound"]
    return out


def every(cfg: ProxyConfig) -> list[Tracing | None]:
    found = tracings(cfg)
    return found["inbound"] + found["outbound"]


def clusters(cfg: ProxyConfig) -> dict[str, cluster_pb2.Cluster]:
    out = {}
    for name, resource in cfg.of_type(naming.CLUSTER_TYPE).items():
        cluster = cluster_pb2.Cluster()
        resource.body.Unpack(cluster)
        out[name] = cluster
    return out


def test_no_provider_no_tracing() -> None:
    assert all(t is None for t in every(config({})))
    cfg = config({"extensionProviders": [ZIPKIN]})  # named nowhere
    assert all(t is None for t in every(cfg))


def test_enable_tracing_false_wins() -> None:
    mesh = {
        "enableTracing": False,
        "extensionProviders": [ZIPKIN],
        "defaultProviders": {"tracing": ["zipkin"]},
    }
    cfg = config(mesh)
    assert all(t is None for t in every(cfg))
    assert "outbound|9411||10.1.2.3" not in clusters(cfg)


def test_zipkin_default_sampling_tags_and_cluster() -> None:
    cfg = config({"extensionProviders": [ZIPKIN], "defaultProviders": {"tracing": ["zipkin"]}})
    found = every(cfg)
    assert found and all(t is not None for t in found)
    tracing = found[0]
    assert tracing is not None
    assert tracing.random_sampling.value == 1.0  # istiod's default
    assert (tracing.client_sampling.value, tracing.overall_sampling.value) == (100.0, 100.0)
    assert tracing.max_path_tag_length.value == 256
    tags = {t.tag: t.literal.value for t in tracing.custom_tags}
    assert tags == {
        "istio.canonical_revision": "v1",
        "istio.canonical_service": "client",
        "istio.mesh_id": "cluster.local",
        "istio.namespace": "default",
        "istio.cluster_id": "Kubernetes",
    }
    assert tracing.provider.name == "envoy.tracers.zipkin"
    zipkin = zipkin_pb2.ZipkinConfig()
    tracing.provider.typed_config.Unpack(zipkin)
    assert zipkin.collector_cluster == "outbound|9411||10.1.2.3"
    assert zipkin.collector_endpoint == "/api/v2/spans"
    assert zipkin.collector_endpoint_version == zipkin_pb2.ZipkinConfig.HTTP_JSON
    assert zipkin.trace_id_128bit and not zipkin.shared_span_context.value
    assert zipkin.HasField("shared_span_context")
    cluster = clusters(cfg)["outbound|9411||10.1.2.3"]
    assert cluster.type == cluster_pb2.Cluster.STATIC


def test_mesh_sampling_and_otel_grpc_cluster() -> None:
    mesh = {
        "extensionProviders": [OTEL],
        "defaultProviders": {"tracing": ["otel"]},
        "defaultConfig": {"tracing": {"sampling": 42.5}},
    }
    cfg = config(mesh)
    tracing = every(cfg)[0]
    assert tracing is not None and tracing.random_sampling.value == 42.5
    otel = opentelemetry_pb2.OpenTelemetryConfig()
    tracing.provider.typed_config.Unpack(otel)
    assert otel.grpc_service.envoy_grpc.cluster_name == "outbound|4317||otel.example.com"
    assert otel.grpc_service.envoy_grpc.authority == "otel.example.com"
    assert otel.service_name == "client.default"
    cluster = clusters(cfg)["outbound|4317||otel.example.com"]
    assert cluster.type == cluster_pb2.Cluster.STRICT_DNS
    assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in (
        cluster.typed_extension_protocol_options
    )


TELEMETRY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tracing, namespace: default}
spec:
  tracing:
  - randomSamplingPercentage: 7
    customTags:
      team: {literal: {value: books}}
      user: {header: {name: x-user, defaultValue: anon}}
  - match: {mode: SERVER}
    disableSpanReporting: true
"""


def test_telemetry_api_sampling_tags_and_server_mode_off() -> None:
    mesh = {
        "extensionProviders": [ZIPKIN],
        "defaultProviders": {"tracing": ["zipkin"]},
        "defaultConfig": {"tracing": {"sampling": 50}},
    }
    found = tracings(config(mesh, TELEMETRY))
    assert all(t is None for t in found["inbound"])  # SERVER: span reporting disabled
    [client, *_] = found["outbound"]
    assert client is not None and client.random_sampling.value == 7  # Telemetry > MeshConfig
    tags = {t.tag: t for t in client.custom_tags}
    assert tags["team"].literal.value == "books"
    assert (tags["user"].request_header.name, tags["user"].request_header.default_value) == (
        "x-user",
        "anon",
    )
    assert "istio.canonical_service" in tags


def test_telemetry_api_provider_gets_its_cluster() -> None:
    telemetry = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: tracing, namespace: default}
spec:
  tracing: [{providers: [{name: otel}]}]
"""
    cfg = config({"extensionProviders": [ZIPKIN, OTEL]}, telemetry)
    assert all(
        t is not None and t.provider.name == "envoy.tracers.opentelemetry" for t in every(cfg)
    )
    assert "outbound|4317||otel.example.com" in clusters(cfg)
    assert "outbound|9411||10.1.2.3" not in clusters(cfg)
