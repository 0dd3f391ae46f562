"""DestinationRule traffic-policy appliers on a cluster that need more than a field or two:
connection pool (istiod's ``applyConnectionPool``), outlier detection (``applyOutlierDetection``),
and the cluster's packed ``HttpProtocolOptions`` they and ``clusters.py`` share."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2, outlier_detection_pb2
from envoy.config.common.matcher.v3 import matcher_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import any_pb2

from mainsail.registry.model import ServicePort
from mainsail.registry.protocol import Protocol
from mainsail.xds.protos import duration, uint32

HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def set_http_options(
    cluster: cluster_pb2.Cluster, options: http_protocol_options_pb2.HttpProtocolOptions
) -> None:
    packed = any_pb2.Any()
    existing = cluster.typed_extension_protocol_options.get(HTTP_OPTIONS_KEY)
    if existing is not None:
        merged = http_protocol_options_pb2.HttpProtocolOptions()
        existing.Unpack(merged)
        merged.MergeFrom(options)
        options = merged
    packed.Pack(options)
    cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].CopyFrom(packed)


def http_options(cluster: cluster_pb2.Cluster) -> http_protocol_options_pb2.HttpProtocolOptions:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    existing = cluster.typed_extension_protocol_options.get(HTTP_OPTIONS_KEY)
    if existing is not None:
        existing.Unpack(options)
    return options


def store_http_options(
    cluster: cluster_pb2.Cluster, options: http_protocol_options_pb2.HttpProtocolOptions
) -> None:
    if not options.HasField("explicit_http_config") and not options.HasField(
        "use_downstream_protocol_config"
    ):
        options.explicit_http_config.http_protocol_options.SetInParent()  # Envoy requires one
    cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].Pack(options)


def apply_connection_pool(cluster: cluster_pb2.Cluster, pool: Any, protocol: Protocol) -> None:
    """istiod's ``applyConnectionPool``: thresholds, connect timeout, keepalive, HTTP options
    (outbound clusters from a DestinationRule, inbound ones from a Sidecar)."""
    threshold = cluster.circuit_breakers.thresholds[0]
    options = http_protocol_options_pb2.HttpProtocolOptions()
    common = options.common_http_protocol_options
    touched = False
    tcp = pool.tcp
    if tcp is not None:
        if tcp.max_connections:
            threshold.max_connections.value = tcp.max_connections
        if tcp.connect_timeout is not None:
            cluster.connect_timeout.CopyFrom(duration(tcp.connect_timeout))
        if tcp.max_connection_duration is not None:
            common.max_connection_duration.CopyFrom(duration(tcp.max_connection_duration))
            touched = True
        if tcp.tcp_keepalive is not None:
            keepalive = cluster.upstream_connection_options.tcp_keepalive
            keepalive.SetInParent()
            if tcp.tcp_keepalive.probes:
                keepalive.keepalive_probes.value = tcp.tcp_keepalive.probes
            if tcp.tcp_keepalive.time is not None:
                keepalive.keepalive_time.value = int(tcp.tcp_keepalive.time.total_seconds())
            if tcp.tcp_keepalive.interval is not None:
                keepalive.keepalive_interval.value = int(tcp.tcp_keepalive.interval.total_seconds())
    http = pool.http
    idle_timeout = http.idle_timeout if http is not None else None
    if idle_timeout is None and tcp is not None:
        idle_timeout = tcp.idle_timeout  # istiod: tcp.idleTimeout also bounds idle HTTP conns
    if idle_timeout is not None:
        common.idle_timeout.CopyFrom(duration(idle_timeout))
        touched = True
    if http is not None:
        if http.http1_max_pending_requests:
            threshold.max_pending_requests.value = http.http1_max_pending_requests
        if http.http2_max_requests:
            threshold.max_requests.value = http.http2_max_requests
        if http.max_retries:
            threshold.max_retries.value = http.max_retries
        if http.max_requests_per_connection:
            common.max_requests_per_connection.value = http.max_requests_per_connection
            touched = True
    if touched and (protocol.is_http or protocol == "UnsupportedProtocol"):
        if not cluster.typed_extension_protocol_options.get(HTTP_OPTIONS_KEY):
            options.explicit_http_config.http_protocol_options.SetInParent()
        set_http_options(cluster, options)


def _enforcing(value: int) -> int:
    """istiod enforces a detector 100 % when its threshold is set, 0 % when it is 0."""
    return 100 if value else 0


def apply_outlier_detection(cluster: cluster_pb2.Cluster, outlier: Any, port: ServicePort) -> None:
    # ``consecutiveErrors`` (deprecated) is ignored, as istiod has done since 1.7.
    detection = outlier_detection_pb2.OutlierDetection(enforcing_success_rate=uint32(0))
    five_xx = outlier.consecutive_5xx_errors
    if five_xx is not None:
        detection.consecutive_5xx.value = five_xx
        detection.enforcing_consecutive_5xx.value = _enforcing(five_xx)
    gateway = outlier.consecutive_gateway_errors
    if gateway is not None:
        detection.consecutive_gateway_failure.value = gateway
        detection.enforcing_consecutive_gateway_failure.value = _enforcing(gateway)
    if outlier.split_external_local_origin_errors:
        detection.split_external_local_origin_errors = True
        if outlier.consecutive_local_origin_failures is not None:
            local = outlier.consecutive_local_origin_failures
            detection.consecutive_local_origin_failure.value = local
            detection.enforcing_consecutive_local_origin_failure.value = _enforcing(local)
    if outlier.interval is not None:
        detection.interval.CopyFrom(duration(outlier.interval))
    if outlier.base_ejection_time is not None:
        detection.base_ejection_time.CopyFrom(duration(outlier.base_ejection_time))
    if outlier.max_ejection_percent:
        detection.max_ejection_percent.value = outlier.max_ejection_percent
    if outlier.min_health_percent is not None:
        cluster.common_lb_config.healthy_panic_threshold.value = float(outlier.min_health_percent)
    cluster.outlier_detection.CopyFrom(detection)
    codes = outlier.outlier_detection_http_error_codes
    if codes and (port.protocol.is_http or port.protocol == "UnsupportedProtocol"):
        options = http_options(cluster)
        options.outlier_detection.error_matcher.CopyFrom(_status_codes_matcher(codes))
        store_http_options(cluster, options)


def _status_codes_matcher(codes: tuple[int, ...]) -> matcher_pb2.MatchPredicate:
    """Responses with one of ``codes`` count as errors for outlier detection (and others not)."""
    predicates = [
        matcher_pb2.MatchPredicate(
            http_response_headers_match=matcher_pb2.HttpHeadersMatch(
                headers=[
                    route_components_pb2.HeaderMatcher(
                        name=":status",
                        string_match=string_pb2.StringMatcher(exact=str(code)),
                    )
                ]
            )
        )
        for code in sorted(set(codes))
    ]
    if len(predicates) == 1:
        return predicates[0]
    return matcher_pb2.MatchPredicate(
        or_match=matcher_pb2.MatchPredicate.MatchSet(rules=predicates)
    )
