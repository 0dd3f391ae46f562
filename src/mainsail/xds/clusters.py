"""CDS: outbound service clusters (and DestinationRule subsets), inbound clusters, special clusters.

Reads: services (registry), DestinationRule (via ``snapshot.destination_rules``), MeshConfig.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.registry.model import MeshService, Resolution, ServicePort
from mainsail.snapshot.destination_rules import AppliedRule, destination_rule_for, policy_for
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.protos import MAX_UINT32, ads_source, duration, socket_address, struct, uint32

HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

_SIMPLE_LB = {
    "ROUND_ROBIN": cluster_pb2.Cluster.ROUND_ROBIN,
    "LEAST_REQUEST": cluster_pb2.Cluster.LEAST_REQUEST,
    "LEAST_CONN": cluster_pb2.Cluster.LEAST_REQUEST,
    "RANDOM": cluster_pb2.Cluster.RANDOM,
    "UNSPECIFIED": cluster_pb2.Cluster.LEAST_REQUEST,
}


def build_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    clusters = [*_special_clusters(snapshot), *_inbound_clusters(view)]
    for service in view.visible_services:
        rule = destination_rule_for(
            snapshot, view.node.namespace, service.hostname, service.namespace
        )
        for port in service.ports:
            if port.protocol == "UDP":
                continue
            clusters.append(_service_cluster(snapshot, service, port, "", rule))
            for subset in rule.subsets if rule else ():
                clusters.append(_service_cluster(snapshot, service, port, subset.name, rule))
    return clusters


def _service_cluster(
    snapshot: MeshSnapshot,
    service: MeshService,
    port: ServicePort,
    subset: str,
    rule: AppliedRule | None,
) -> cluster_pb2.Cluster:
    name = naming.build_outbound_cluster(port.port, service.hostname, subset)
    cluster = cluster_pb2.Cluster(
        name=name,
        alt_stat_name=naming.build_alt_stat_name(name),
        connect_timeout=duration(snapshot.mesh.connect_timeout),
        circuit_breakers=_default_circuit_breakers(),
        common_lb_config=cluster_pb2.Cluster.CommonLbConfig(),
    )
    metadata: dict[str, object] = {
        "services": [
            {"host": service.hostname, "name": service.name, "namespace": service.namespace}
        ],
        "default_original_port": port.port,
    }
    if subset:
        metadata["subset"] = subset
    if rule is not None:
        source = rule.sources[0]
        metadata["config"] = (
            f"/apis/networking.istio.io/v1/namespaces/{source.namespace}"
            f"/destination-rule/{source.name}"
        )
    cluster.metadata.filter_metadata["istio"].CopyFrom(struct(metadata))
    _set_discovery(snapshot, cluster, service, port, subset, rule)
    if port.protocol.is_http2:
        _set_http_options(
            cluster,
            http_protocol_options_pb2.HttpProtocolOptions(
                explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                    http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
                )
            ),
        )
    _apply_policy(cluster, policy_for(rule, port.port, subset), port)
    return cluster


def _set_discovery(
    snapshot: MeshSnapshot,
    cluster: cluster_pb2.Cluster,
    service: MeshService,
    port: ServicePort,
    subset: str,
    rule: AppliedRule | None,
) -> None:
    if service.resolution is Resolution.PASSTHROUGH:
        cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        return
    if service.resolution is Resolution.CLIENT_SIDE_LB:
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_source())
        cluster.eds_cluster_config.service_name = cluster.name
        cluster.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
        return
    # DNS resolutions carry their endpoints inline.
    from mainsail.xds.endpoints import load_assignment  # local: endpoints imports this module

    cluster.type = (
        cluster_pb2.Cluster.STRICT_DNS
        if service.resolution is Resolution.DNS
        else cluster_pb2.Cluster.LOGICAL_DNS
    )
    cluster.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
    cluster.respect_dns_ttl = True
    cluster.dns_refresh_rate.CopyFrom(duration(timedelta(seconds=60)))
    cluster.load_assignment.CopyFrom(
        load_assignment(snapshot, cluster.name, service, port.port, subset, rule)
    )


def _default_circuit_breakers() -> circuit_breaker_pb2.CircuitBreakers:
    return circuit_breaker_pb2.CircuitBreakers(
        thresholds=[
            circuit_breaker_pb2.CircuitBreakers.Thresholds(
                max_connections=uint32(MAX_UINT32),
                max_pending_requests=uint32(MAX_UINT32),
                max_requests=uint32(MAX_UINT32),
                max_retries=uint32(MAX_UINT32),
                track_remaining=True,
            )
        ]
    )


def _set_http_options(
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


def _apply_policy(cluster: cluster_pb2.Cluster, policy: dict[str, Any], port: ServicePort) -> None:
    lb = policy.get("load_balancer")
    if lb is not None and cluster.type == cluster_pb2.Cluster.EDS:
        if lb.simple == "PASSTHROUGH":
            cluster.ClearField("eds_cluster_config")
            cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
            cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        elif lb.simple is not None:
            cluster.lb_policy = _SIMPLE_LB.get(lb.simple, cluster_pb2.Cluster.LEAST_REQUEST)
        elif lb.consistent_hash is not None:
            _apply_consistent_hash(cluster, lb.consistent_hash)
    pool = policy.get("connection_pool")
    if pool is not None:
        _apply_connection_pool(cluster, pool, port)
    outlier = policy.get("outlier_detection")
    if outlier is not None:
        _apply_outlier_detection(cluster, outlier)


def _apply_consistent_hash(cluster: cluster_pb2.Cluster, consistent: Any) -> None:
    if consistent.maglev is not None:
        cluster.lb_policy = cluster_pb2.Cluster.MAGLEV
        if consistent.maglev.table_size:
            cluster.maglev_lb_config.table_size.value = consistent.maglev.table_size
        return
    cluster.lb_policy = cluster_pb2.Cluster.RING_HASH
    size = 1024
    if consistent.ring_hash is not None and consistent.ring_hash.minimum_ring_size:
        size = consistent.ring_hash.minimum_ring_size
    elif consistent.minimum_ring_size:
        size = consistent.minimum_ring_size
    cluster.ring_hash_lb_config.minimum_ring_size.value = size


def _apply_connection_pool(cluster: cluster_pb2.Cluster, pool: Any, port: ServicePort) -> None:
    threshold = cluster.circuit_breakers.thresholds[0]
    options = http_protocol_options_pb2.HttpProtocolOptions()
    touched = False
    if pool.tcp is not None:
        if pool.tcp.max_connections:
            threshold.max_connections.value = pool.tcp.max_connections
        if pool.tcp.connect_timeout is not None:
            cluster.connect_timeout.CopyFrom(duration(pool.tcp.connect_timeout))
        if pool.tcp.max_connection_duration is not None:
            options.common_http_protocol_options.max_connection_duration.CopyFrom(
                duration(pool.tcp.max_connection_duration)
            )
            touched = True
    http = pool.http
    if http is not None:
        if http.http1_max_pending_requests:
            threshold.max_pending_requests.value = http.http1_max_pending_requests
        if http.http2_max_requests:
            threshold.max_requests.value = http.http2_max_requests
        if http.max_retries:
            threshold.max_retries.value = http.max_retries
        if http.max_requests_per_connection:
            options.common_http_protocol_options.max_requests_per_connection.value = (
                http.max_requests_per_connection
            )
            touched = True
        if http.idle_timeout is not None:
            options.common_http_protocol_options.idle_timeout.CopyFrom(duration(http.idle_timeout))
            touched = True
    if touched and port.protocol.is_http:
        if not cluster.typed_extension_protocol_options.get(HTTP_OPTIONS_KEY):
            options.explicit_http_config.http_protocol_options.SetInParent()
        _set_http_options(cluster, options)


def _apply_outlier_detection(cluster: cluster_pb2.Cluster, outlier: Any) -> None:
    detection = outlier_detection_pb2.OutlierDetection(enforcing_success_rate=uint32(0))
    five_xx = outlier.consecutive_5xx_errors
    if five_xx is not None:
        detection.consecutive_5xx.value = five_xx
        detection.enforcing_consecutive_5xx.value = 100 if five_xx else 0
    if outlier.consecutive_gateway_errors is not None:
        detection.consecutive_gateway_failure.value = outlier.consecutive_gateway_errors
        detection.enforcing_consecutive_gateway_failure.value = 100
    if outlier.interval is not None:
        detection.interval.CopyFrom(duration(outlier.interval))
    if outlier.base_ejection_time is not None:
        detection.base_ejection_time.CopyFrom(duration(outlier.base_ejection_time))
    if outlier.max_ejection_percent is not None:
        detection.max_ejection_percent.value = outlier.max_ejection_percent
    if outlier.min_health_percent is not None:
        cluster.common_lb_config.healthy_panic_threshold.value = float(outlier.min_health_percent)
    cluster.outlier_detection.CopyFrom(detection)


def _special_clusters(snapshot: MeshSnapshot) -> list[cluster_pb2.Cluster]:
    timeout = duration(snapshot.mesh.connect_timeout)
    return [
        cluster_pb2.Cluster(
            name=naming.BLACKHOLE_CLUSTER,
            type=cluster_pb2.Cluster.STATIC,
            connect_timeout=timeout,
            lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
            load_assignment=endpoint_pb2.ClusterLoadAssignment(
                cluster_name=naming.BLACKHOLE_CLUSTER
            ),
        ),
        cluster_pb2.Cluster(
            name=naming.PASSTHROUGH_CLUSTER,
            alt_stat_name=naming.build_alt_stat_name(naming.PASSTHROUGH_CLUSTER),
            type=cluster_pb2.Cluster.ORIGINAL_DST,
            lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
            connect_timeout=timeout,
            circuit_breakers=_default_circuit_breakers(),
        ),
    ]


def _inbound_clusters(view: ProxyView) -> list[cluster_pb2.Cluster]:
    """``inbound|<port>||`` → the app, at the private port the local platform gave it."""
    app_ports = dict(view.node.app_ports)
    seen: set[int] = set()
    clusters = []
    for endpoint in view.inbound:
        if endpoint.port in seen:
            continue
        seen.add(endpoint.port)
        name = naming.build_inbound_cluster(endpoint.port)
        address = view.node.ip if view.node.interception_mode == "NONE" else "127.0.0.1"
        target = app_ports.get(endpoint.port, endpoint.port)
        clusters.append(
            cluster_pb2.Cluster(
                name=name,
                type=cluster_pb2.Cluster.STATIC,
                connect_timeout=duration(timedelta(seconds=10)),
                circuit_breakers=_default_circuit_breakers(),
                load_assignment=endpoint_pb2.ClusterLoadAssignment(
                    cluster_name=name,
                    endpoints=[
                        endpoint_components_pb2.LocalityLbEndpoints(
                            lb_endpoints=[
                                endpoint_components_pb2.LbEndpoint(
                                    endpoint=endpoint_components_pb2.Endpoint(
                                        address=socket_address(address, target)
                                    )
                                )
                            ]
                        )
                    ],
                ),
                metadata=base_pb2.Metadata(),
            )
        )
    return clusters
