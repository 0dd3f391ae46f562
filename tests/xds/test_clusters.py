"""Cluster translation rules that the golden files show, stated as assertions (reference §3.4, §3.5)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.clusters.dns.v3 import dns_cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from mainsail import naming

from .cases import generate_case, load_case


def _clusters(case: str) -> dict[str, cluster_pb2.Cluster]:
    found = {}
    for name, resource in generate_case(load_case(case)).of_type(naming.CLUSTER_TYPE).items():
        message = cluster_pb2.Cluster()
        resource.body.Unpack(message)
        found[name] = message
    return found


def test_dns_clusters_use_the_dns_extension_without_deprecated_fields() -> None:
    clusters = _clusters("service_entries")
    strict = clusters["outbound|5432||db.example.com"]
    assert strict.cluster_type.name == "envoy.clusters.dns"
    assert not strict.HasField("dns_refresh_rate") and not strict.respect_dns_ttl
    dns = dns_cluster_pb2.DnsCluster()
    strict.cluster_type.typed_config.Unpack(dns)
    assert dns.respect_dns_ttl and dns.dns_refresh_rate.seconds == 60
    assert not dns.all_addresses_in_single_endpoint
    assert dns.dns_lookup_family == 2  # V4_ONLY for an IPv4 proxy
    addresses = [
        e.endpoint.address.socket_address.address
        for group in strict.load_assignment.endpoints
        for e in group.lb_endpoints
    ]
    assert sorted(addresses) == ["db-1.example.com", "db-2.example.com"]


def test_dns_round_robin_is_logical_dns_with_one_endpoint() -> None:
    logical = _clusters("service_entries")["outbound|80||rr.example.com"]
    dns = dns_cluster_pb2.DnsCluster()
    logical.cluster_type.typed_config.Unpack(dns)
    assert dns.all_addresses_in_single_endpoint
    (group,) = logical.load_assignment.endpoints
    (only,) = group.lb_endpoints
    assert only.endpoint.address.socket_address.address == "rr-1.example.com"


def test_resolution_none_forwards_by_name_on_the_local_platform() -> None:
    # Captured proxies get ORIGINAL_DST with the port override (tests/xds/test_egress.py).
    passthrough = _clusters("service_entries")["outbound|8443||passthrough.example.com"]
    assert passthrough.cluster_type.name == "envoy.clusters.dynamic_forward_proxy"
    assert passthrough.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED


def test_defaults_without_a_destination_rule() -> None:
    cluster = _clusters("default_routes")["outbound|9080||reviews.default.svc.cluster.local"]
    assert cluster.type == cluster_pb2.Cluster.EDS
    assert cluster.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST
    assert cluster.connect_timeout.seconds == 10
    (threshold,) = cluster.circuit_breakers.thresholds
    assert threshold.max_connections.value == 4294967295 and threshold.track_remaining
    assert cluster.alt_stat_name == cluster.name + ";"


def test_destination_rule_policies() -> None:
    clusters = _clusters("dr_policies")
    top = clusters["outbound|9080||reviews.default.svc.cluster.local"]
    assert top.lb_policy == cluster_pb2.Cluster.RING_HASH
    assert top.ring_hash_lb_config.minimum_ring_size.value == 2048
    assert top.outlier_detection.consecutive_5xx.value == 7
    assert top.outlier_detection.enforcing_consecutive_gateway_failure.value == 0  # 0 errors
    assert top.upstream_connection_options.tcp_keepalive.keepalive_probes.value == 3
    v1 = clusters["outbound|9080|v1|reviews.default.svc.cluster.local"]
    assert v1.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert v1.outlier_detection.consecutive_5xx.value == 7  # inherited from the top level
    v2 = clusters["outbound|9080|v2|reviews.default.svc.cluster.local"]
    assert v2.lb_policy == cluster_pb2.Cluster.MAGLEV
    # legacy consecutiveErrors is ignored (istiod since 1.7); the subset block replaced the top
    assert not v2.outlier_detection.HasField("consecutive_5xx")
    assert not v2.outlier_detection.HasField("consecutive_gateway_failure")
    grpc = clusters["outbound|9090||ratings.default.svc.cluster.local"]
    assert grpc.lb_policy == cluster_pb2.Cluster.RING_HASH  # port level replaced RANDOM...
    assert grpc.ring_hash_lb_config.minimum_ring_size.value == 512
    # ...and the top-level connectionPool is not inherited on that port
    assert grpc.circuit_breakers.thresholds[0].max_requests.value == 4294967295
    http = clusters["outbound|9080||ratings.default.svc.cluster.local"]
    assert http.circuit_breakers.thresholds[0].max_requests.value == 1000
    passthrough = clusters["outbound|80||details.other.svc.cluster.local"]
    assert passthrough.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert not passthrough.HasField("eds_cluster_config")


def _http_options(cluster: cluster_pb2.Cluster) -> http_protocol_options_pb2.HttpProtocolOptions:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    cluster.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ].Unpack(options)
    return options


def test_http2_upgrade_streams_keepalive_and_outlier_error_codes() -> None:
    cluster = _clusters("dr_extras")["outbound|8080||zones.default.svc.cluster.local"]
    options = _http_options(cluster)
    h2 = options.explicit_http_config.http2_protocol_options
    assert h2.max_concurrent_streams.value == 50
    assert h2.connection_keepalive.interval.seconds == 20
    rules = options.outlier_detection.error_matcher.or_match.rules
    assert [r.http_response_headers_match.headers[0].string_match.exact for r in rules] == [
        "500",
        "503",
    ]
    slow = cluster.round_robin_lb_config.slow_start_config
    assert (slow.slow_start_window.seconds, slow.min_weight_percent.value) == (60, 20)
    assert cluster.common_lb_config.HasField("locality_weighted_lb_config")


def test_use_client_protocol_and_do_not_upgrade() -> None:
    cluster = _clusters("dr_extras")["outbound|80||details.other.svc.cluster.local"]
    options = _http_options(cluster)
    assert options.HasField("use_downstream_protocol_config")
    assert not options.HasField("explicit_http_config")


def test_warmup_duration_secs_on_a_subset_and_locality_disabled() -> None:
    clusters = _clusters("dr_extras")
    # the subset's loadBalancer block replaces the top-level one (default LEAST_REQUEST)
    distributed = clusters["outbound|8080|distributed|zones.default.svc.cluster.local"]
    assert distributed.least_request_lb_config.slow_start_config.slow_start_window.seconds == 30
    off = clusters["outbound|8080|no-locality|zones.default.svc.cluster.local"]
    assert not off.common_lb_config.HasField("locality_weighted_lb_config")
    assert not off.HasField("least_request_lb_config")
