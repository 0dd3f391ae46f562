"""Telemetry translation, unit level: label sources per reporter, workload identity rules,
access log settings, cardinality caps, and where the pieces go on listeners."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from mainsail import naming
from mainsail.config.mesh import DefaultProviders, MeshConfig
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.telemetry import metrics_enabled
from mainsail.xds.telemetry_logs import ISTIO_JSON_FORMAT, access_log_path, file_access_logs
from mainsail.xds.telemetry_metrics import (
    DestinationService,
    MetricsSpec,
    client_service_format,
    http_tags,
    stats_scope_field,
    tcp_tags,
)
from mainsail.xds.telemetry_peer import PEER_FIELDS, peer_filters, workload_identity

from .cases import generate_case, load_case


def _node(**labels: str) -> ProxyNode:
    return ProxyNode(
        node_id="sidecar~10.0.0.1~reviews-v2-0.default~default.svc.cluster.local",
        proxy_type="sidecar",
        ip="10.0.0.1",
        pod_name="reviews-v2-0",
        namespace="default",
        labels=tuple(sorted(labels.items())),
        workload_name="reviews-v2",
        extra=(("MAINSAIL_ACCESS_LOG", "/state/logs/default.reviews-v2-0.access.log"),),
    )


def test_workload_identity_follows_istios_canonical_label_rules() -> None:
    plain = workload_identity(_node(app="reviews", version="v2"))
    assert (plain.workload, plain.app, plain.version) == ("reviews-v2", "reviews", "v2")
    assert (plain.canonical_service, plain.canonical_revision) == ("reviews", "v2")
    assert plain.cluster == "Kubernetes"
    explicit = workload_identity(
        _node(
            app="reviews",
            **{
                "service.istio.io/canonical-name": "reviews-svc",
                "service.istio.io/canonical-revision": "2024",
            },
        )
    )
    assert (explicit.canonical_service, explicit.canonical_revision) == ("reviews-svc", "2024")
    bare = workload_identity(_node())
    assert (bare.app, bare.version) == ("unknown", "unknown")
    assert (bare.canonical_service, bare.canonical_revision) == ("reviews-v2", "latest")


def _tags(spec: MetricsSpec) -> dict[str, str]:
    return dict(http_tags(spec))


def test_source_reporter_reads_the_peer_from_metadata_and_principals_from_certificates() -> None:
    tags = _tags(MetricsSpec(reporter="source", own=workload_identity(_node(app="reviews"))))
    assert tags["reporter"] == "source"
    assert tags["source_workload"] == "reviews-v2"
    assert tags["destination_workload"] == "%DYNAMIC_METADATA(mainsail.peer:workload)%"
    assert tags["source_principal"] == "%UPSTREAM_LOCAL_URI_SAN%"
    assert tags["destination_principal"] == "%UPSTREAM_PEER_URI_SAN%"
    # Computed once per response from the cluster's istio metadata into peer metadata.
    assert tags["destination_service"] == "%DYNAMIC_METADATA(mainsail.peer:service_host)%"
    spec = MetricsSpec(reporter="source", own=workload_identity(_node()))
    host, _, namespace = client_service_format(spec).split(")%;%CEL(")
    assert "istio.services[0].host" in host and "services[0].namespace" in namespace
    tcp = dict(tcp_tags(spec))
    assert "istio.services[0].host" in tcp["destination_service"]
    assert tags["connection_security_policy"] == "unknown"
    assert tags["request_protocol"] == "%FILTER_STATE(mainsail.request_protocol:PLAIN)%"
    # No peer header is ever a principal.
    assert "x-mainsail" not in " ".join(tags.values())


def test_destination_reporter_names_its_service_and_mtls() -> None:
    service = DestinationService(
        host="reviews.default.svc.cluster.local", name="reviews", namespace="default"
    )
    tags = _tags(
        MetricsSpec(
            reporter="destination", own=workload_identity(_node(app="reviews")), service=service
        )
    )
    assert tags["source_workload"] == "%DYNAMIC_METADATA(mainsail.peer:workload)%"
    assert tags["destination_workload"] == "reviews-v2"
    assert tags["destination_service"] == "reviews.default.svc.cluster.local"
    assert tags["source_principal"] == "%DOWNSTREAM_PEER_URI_SAN%"
    assert tags["connection_security_policy"] == (
        "%FILTER_STATE(mainsail.connection_security_policy:PLAIN)%"
    )
    unknown = _tags(MetricsSpec(reporter="destination", own=workload_identity(_node())))
    assert unknown["destination_service_name"] == "unknown"


def test_tcp_tags_have_no_http_labels() -> None:
    tags = dict(tcp_tags(MetricsSpec(reporter="source", own=workload_identity(_node()))))
    assert tags["request_protocol"] == "tcp"
    assert "response_code" not in tags and "grpc_response_status" not in tags


def test_a_percent_in_a_label_value_is_literal() -> None:
    tags = _tags(MetricsSpec(reporter="source", own=workload_identity(_node(app="50%"))))
    assert tags["source_app"] == "50%%"


def test_stats_scope_is_field_6_with_istio_prefix_and_caps() -> None:
    config = stats_pb2.Config()
    config.MergeFromString(stats_scope_field())
    raw = config.SerializeToString()
    assert raw.startswith(b"\x32")  # field 6, length-delimited
    assert b"istio" in raw


def test_access_log_path_and_formats() -> None:
    node = _node()
    assert access_log_path(MeshConfig(), node) is None
    assert access_log_path(MeshConfig(access_log_file="/dev/stdout"), node) == (
        "/state/logs/default.reviews-v2-0.access.log"
    )
    assert access_log_path(MeshConfig(access_log_file="/tmp/all.log"), node) == "/tmp/all.log"
    [text] = file_access_logs(
        MeshConfig(access_log_file="/x", access_log_format="%DURATION%"), node
    )
    config = file_pb2.FileAccessLog()
    text.typed_config.Unpack(config)
    assert config.log_format.text_format_source.inline_string == "%DURATION%\n"
    [bad_json] = file_access_logs(
        MeshConfig(access_log_file="/x", access_log_encoding="JSON", access_log_format="[1]"), node
    )
    bad_json.typed_config.Unpack(config)
    assert dict(config.log_format.json_format) == ISTIO_JSON_FORMAT
    [custom] = file_access_logs(
        MeshConfig(
            access_log_file="/x",
            access_log_encoding="JSON",
            access_log_format='{"d": "%DURATION%"}',
        ),
        node,
    )
    custom.typed_config.Unpack(config)
    assert dict(config.log_format.json_format) == {"d": "%DURATION%"}


def test_metrics_follow_default_providers() -> None:
    assert metrics_enabled(MeshConfig())
    assert metrics_enabled(MeshConfig(default_providers=DefaultProviders(metrics=("prometheus",))))
    assert not metrics_enabled(MeshConfig(default_providers=DefaultProviders(metrics=("none",))))


def test_peer_header_names_round_trip() -> None:
    assert naming.build_peer_header() == "x-mainsail-peer"
    assert naming.parse_peer_header("X-Mainsail-Peer") == ""
    assert naming.build_peer_header("service") == "x-mainsail-peer-service"
    assert naming.parse_peer_header("x-mainsail-peer-service") == "service"
    assert naming.parse_peer_header("x-request-id") is None


def test_peer_exchange_is_one_header_split_by_position() -> None:
    [learn, announce] = peer_filters(
        workload_identity(_node(app="reviews", version="v2")), "server"
    )
    rules = header_to_metadata_pb2.Config()
    learn.typed_config.Unpack(rules)
    assert [r.on_header_present.key for r in rules.request_rules] == list(PEER_FIELDS)
    assert [r.remove for r in rules.request_rules] == [False] * 6 + [True]
    assert rules.request_rules[2].on_header_present.regex_value_rewrite.pattern.regex == (
        "^(?:[^;]*;){2}([^;]*).*$"
    )
    mutation = header_mutation_pb2.HeaderMutation()
    announce.typed_config.Unpack(mutation)
    [header] = mutation.mutations.response_mutations
    assert (header.append.header.key, header.append.header.value) == (
        "x-mainsail-peer",
        "reviews-v2;default;reviews;v2;reviews;v2;Kubernetes",
    )


def test_every_hcm_and_tcp_proxy_of_a_sidecar_is_equipped() -> None:
    config = generate_case(load_case("telemetry_sidecar"))
    listeners = [
        listener_pb2.Listener.FromString(r.body.value)
        for r in config.of_type(naming.LISTENER_TYPE).values()
    ]
    managers, proxies = 0, 0
    for listener in listeners:
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name.endswith("http_connection_manager"):
                    manager = hcm_pb2.HttpConnectionManager()
                    network_filter.typed_config.Unpack(manager)
                    names = [f.name for f in manager.http_filters]
                    assert names[:3] == [
                        "envoy.filters.http.header_to_metadata",
                        "envoy.filters.http.header_mutation",
                        "envoy.filters.http.set_filter_state",
                    ]
                    assert [a.name for a in manager.access_log] == [
                        "envoy.access_loggers.stats",
                        "envoy.access_loggers.file",
                    ]
                    managers += 1
                elif network_filter.name.endswith("tcp_proxy"):
                    proxy = tcp_proxy_pb2.TcpProxy()
                    network_filter.typed_config.Unpack(proxy)
                    assert proxy.access_log_options.flush_access_log_on_connected
                    assert len(proxy.access_log) == 3
                    proxies += 1
    assert managers >= 2 and proxies >= 2  # outbound + inbound of each kind
