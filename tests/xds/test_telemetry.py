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
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from mainsail import naming
from mainsail.config.mesh import DefaultProviders, MeshConfig
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.telemetry import metrics_enabled
from mainsail.xds.telemetry_logs import ISTIO_JSON_FORMAT, access_log_path, file_access_logs
from mainsail.xds.telemetry_metrics import (
    DestinationService,
    MetricsSpec,
    http_metrics_loggers,
    http_tags,
    stats_scope_field,
    tcp_tags,
)
from mainsail.xds.telemetry_peer import (
    UNKNOWN_PEER,
    decode_peer,
    passthrough_route_config,
    peer_filters,
    workload_identity,
)

from .cases import generate_case, load_case


def _raw_fields(message: Message, number: int) -> list[bytes]:
    """The payloads of ``message``'s unknown length-delimited field ``number`` (the raw fields
    translation writes because our xds-protos lack them)."""
    fields = UnknownFieldSet(message)
    found = [fields[i] for i in range(len(fields))]
    return [bytes(f.data) for f in found if f.field_number == number]


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
    assert tags["destination_workload"] == "%DYNAMIC_METADATA(mainsail.peer:peer:workload)%"
    assert tags["source_principal"] == "%UPSTREAM_LOCAL_URI_SAN%"
    assert tags["destination_principal"] == "%UPSTREAM_PEER_URI_SAN%"
    # The cluster's flat service metadata: no CEL on the request path.
    assert tags["destination_service"] == "%CLUSTER_METADATA(mainsail.service:host)%"
    assert tags["destination_service_name"] == "%CLUSTER_METADATA(mainsail.service:name)%"
    outbound = _tags(
        MetricsSpec(reporter="source", own=workload_identity(_node()), host_fallback=True)
    )
    # A sidecar's outbound adds the authority only the allow_any route stores.
    assert outbound["destination_service"] == (
        "%CLUSTER_METADATA(mainsail.service:host)%%DYNAMIC_METADATA(mainsail.peer:authority)%"
    )
    tcp = dict(tcp_tags(MetricsSpec(reporter="source", own=workload_identity(_node()))))
    assert tcp["destination_service_namespace"] == "%CLUSTER_METADATA(mainsail.service:namespace)%"
    assert tags["connection_security_policy"] == "unknown"
    assert tags["request_protocol"] == "%REQ(content-type)%"
    # No peer header is ever a principal.
    assert "x-mainsail" not in " ".join(tags.values())
    assert "CEL" not in " ".join([*tags.values(), *tcp.values()])


def test_destination_reporter_names_its_service_and_mtls() -> None:
    service = DestinationService(
        host="reviews.default.svc.cluster.local", name="reviews", namespace="default"
    )
    tags = _tags(
        MetricsSpec(
            reporter="destination", own=workload_identity(_node(app="reviews")), service=service
        )
    )
    assert tags["source_workload"] == "%DYNAMIC_METADATA(mainsail.peer:peer:workload)%"
    assert tags["destination_workload"] == "reviews-v2"
    assert tags["destination_service"] == "reviews.default.svc.cluster.local"
    assert tags["source_principal"] == "%DOWNSTREAM_PEER_URI_SAN%"
    assert tags["connection_security_policy"] == "%DOWNSTREAM_PEER_FINGERPRINT_256%"
    unknown = _tags(MetricsSpec(reporter="destination", own=workload_identity(_node())))
    assert unknown["destination_service_name"] == "unknown"


def _rule_values(tag: stats_pb2.Config.Tag) -> tuple[str, ...]:
    """The strings in the tag's raw rules (field 3): what it matches and what it sets."""
    raw = b"".join(_raw_fields(tag, 3))
    return tuple(
        word
        for word in ("application/grpc", "grpc", "http", "none", "mutual_tls", "unknown")
        if word.encode() in raw
    )


def test_tag_rules_turn_formatters_into_istios_words() -> None:
    service = DestinationService(host="r.default.svc.cluster.local", name="r", namespace="default")
    spec = MetricsSpec(reporter="destination", own=workload_identity(_node()), service=service)
    [logger] = http_metrics_loggers(spec)
    config = stats_pb2.Config()
    logger.typed_config.Unpack(config)
    for stat in [*config.counters, *config.histograms]:
        rules = {tag.name: _rule_values(tag) for tag in stat.stat.tags}
        assert rules["request_protocol"] == ("application/grpc", "grpc", "http")
        assert rules["connection_security_policy"] == ("none", "mutual_tls")
        assert rules["source_principal"] == ("unknown",)
        # A constant is never empty: no rule; and grpc_response_status stays empty.
        assert rules["destination_service"] == ()
        assert rules["grpc_response_status"] == ()
        assert rules["source_workload"] == ()


def test_tcp_tags_have_no_http_labels() -> None:
    tags = dict(tcp_tags(MetricsSpec(reporter="source", own=workload_identity(_node()))))
    assert tags["request_protocol"] == "tcp"
    assert "response_code" not in tags and "grpc_response_status" not in tags
    # No TCP peer exchange: the peer's workload labels are Istio's ``unknown``, never empty.
    peer = [f"destination_{f}" for f in ("workload", "app", "version", "canonical_service")]
    assert {tags[label] for label in [*peer, "destination_cluster"]} == {"unknown"}
    assert tags["source_workload"] == "reviews-v2"
    server = dict(tcp_tags(MetricsSpec(reporter="destination", own=workload_identity(_node()))))
    assert server["source_workload"] == server["source_workload_namespace"] == "unknown"
    assert server["source_principal"] == "%DOWNSTREAM_PEER_URI_SAN%"


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


def test_peer_exchange_is_one_base64_struct_decoded_by_one_rule() -> None:
    [learn, announce] = peer_filters(
        workload_identity(_node(app="reviews", version="v2")), "server"
    )
    rules = header_to_metadata_pb2.Config()
    learn.typed_config.Unpack(rules)
    # First the all-unknown fallback, header or not (a value that does not decode writes
    # nothing), then the decoding rule over it, which removes the header.
    [fallback, rule] = rules.request_rules
    kinds = header_to_metadata_pb2.Config
    assert (fallback.header, fallback.remove) == ("x-mainsail-peer", False)
    for unknown in (fallback.on_header_present, fallback.on_header_missing):
        assert (unknown.metadata_namespace, unknown.key, unknown.value) == (
            "mainsail.peer",
            "peer",
            UNKNOWN_PEER,
        )
        assert (unknown.type, unknown.encode) == (kinds.PROTOBUF_VALUE, kinds.BASE64)
    assert (rule.header, rule.remove) == ("x-mainsail-peer", True)
    present = rule.on_header_present
    assert (present.metadata_namespace, present.key, present.value) == ("mainsail.peer", "peer", "")
    assert (present.type, present.encode) == (kinds.PROTOBUF_VALUE, kinds.BASE64)
    assert not rule.HasField("on_header_missing")
    assert set(decode_peer(UNKNOWN_PEER).values()) == {"unknown"}
    assert not rules.response_rules
    mutation = header_mutation_pb2.HeaderMutation()
    announce.typed_config.Unpack(mutation)
    [header] = mutation.mutations.response_mutations
    assert header.append.header.key == "x-mainsail-peer"
    assert decode_peer(header.append.header.value) == {
        "workload": "reviews-v2",
        "namespace": "default",
        "app": "reviews",
        "version": "v2",
        "canonical_service": "reviews",
        "canonical_revision": "v2",
        "cluster": "Kubernetes",
    }
    client_learn, _ = peer_filters(workload_identity(_node()), "client")
    client_rules = header_to_metadata_pb2.Config()
    client_learn.typed_config.Unpack(client_rules)
    # The client: the fallback on the request (a response may never come), decoding on the
    # response.
    assert list(client_rules.request_rules) == [fallback]
    assert list(client_rules.response_rules) == [rule]
    # The allow_any route's own config: the client's rule plus the authority.
    passthrough = header_to_metadata_pb2.Config()
    passthrough_route_config().Unpack(passthrough)
    assert passthrough.response_rules == client_rules.response_rules
    [authority, passthrough_fallback] = passthrough.request_rules
    assert passthrough_fallback == fallback
    assert (authority.header, authority.on_header_present.key) == (":authority", "authority")


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
                    assert names[:2] == [
                        "envoy.filters.http.header_to_metadata",
                        "envoy.filters.http.header_mutation",
                    ]
                    assert "envoy.filters.http.set_filter_state" not in names
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
