"""networking.istio.io DestinationRule: policies for traffic to a service after routing
(istio/api destination_rule.proto).

``ConnectionPoolSettings`` is defined here (as in the proto) and reused by Sidecar.
Structural checks only; Istio's semantic rules live in ``mainsail.config.validation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from mainsail.config.base import Resource, WireModel
from mainsail.config.istio.common import MatchLabelsSelector, PortSelector, check_at_most_one
from mainsail.config.wire_types import Bool, Duration, Int32, UInt32, UInt64

SimpleLB = Literal[
    "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
]
H2UpgradePolicy = Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"]
ClientTLSMode = Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]


class HTTPCookie(WireModel):
    class Attribute(WireModel):
        name: str
        value: str | None = None

    name: str
    path: str | None = None
    ttl: Duration | None = None
    attributes: tuple[Attribute, ...] = ()


class RingHash(WireModel):
    minimum_ring_size: UInt64 | None = None


class MagLev(WireModel):
    table_size: UInt64 | None = None


class ConsistentHashLB(WireModel):
    """Hash key (header, cookie, source IP, query parameter) and algorithm (ring hash, Maglev).

    The CRD does not enforce the proto's one-ofs here; the semantic validator does.
    """

    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: Bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: UInt64 | None = None  # deprecated: use ring_hash


class LocalityDistribute(WireModel):
    from_: str | None = Field(default=None, alias="from")
    to: Mapping[str, UInt32] = Field(default_factory=dict)


class LocalityFailover(WireModel):
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class LocalityLoadBalancerSetting(WireModel):
    distribute: tuple[LocalityDistribute, ...] = ()
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[str, ...] = ()
    enabled: Bool | None = None


class ZoneAwareLoadBalancerSetting(WireModel):
    enabled: Bool | None = None
    min_cluster_size: Annotated[int, Field(ge=1, strict=True)] | None = None
    failover: tuple[LocalityFailover, ...] = ()
    failover_priority: tuple[str, ...] = ()


class WarmupConfiguration(WireModel):
    duration: Duration
    minimum_percent: Annotated[float, Field(ge=0, le=100, strict=True)] | None = None
    aggression: Annotated[float, Field(ge=0, strict=True)] | None = None


class LoadBalancerSettings(WireModel):
    simple: SimpleLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None
    warmup_duration_secs: Duration | None = None  # deprecated: use warmup
    warmup: WarmupConfiguration | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> Self:
        check_at_most_one(self, "simple", "consistent_hash")
        return self


class TcpKeepalive(WireModel):
    probes: UInt32 | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(WireModel):
    max_connections: Int32 | None = None
    connect_timeout: Duration | None = None
    tcp_keepalive: TcpKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class HTTP2KeepAlive(WireModel):
    interval: Duration | None = None
    timeout: Duration | None = None


class HTTPSettings(WireModel):
    http1_max_pending_requests: Int32 | None = None
    http2_max_requests: Int32 | None = None
    max_requests_per_connection: Int32 | None = None
    max_retries: Int32 | None = None
    idle_timeout: Duration | None = None
    h2_upgrade_policy: H2UpgradePolicy | None = None
    use_client_protocol: Bool | None = None
    max_concurrent_streams: Int32 | None = None
    http2_keep_alive: HTTP2KeepAlive | None = None


class ConnectionPoolSettings(WireModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(WireModel):
    consecutive_errors: Int32 | None = None  # deprecated: use consecutive_5xx_errors
    split_external_local_origin_errors: Bool | None = None
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = Field(default=None, alias="consecutive5xxErrors")
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: Int32 | None = None
    min_health_percent: Int32 | None = None
    outlier_detection_http_error_codes: tuple[
        Annotated[int, Field(ge=100, le=599, strict=True)], ...
    ] = ()


class ClientTLSSettings(WireModel):
    mode: ClientTLSMode | None = None
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    sni: str | None = None
    insecure_skip_verify: Bool | None = None
    ca_crl: str | None = None


class ProxyProtocol(WireModel):
    version: Literal["V1", "V2"] | None = None


class Tunnel(WireModel):
    """TrafficPolicy.TunnelSettings: tunnel TCP over HTTP CONNECT/POST to a proxy."""

    protocol: str | None = None
    target_host: str
    target_port: UInt32


class RetryBudget(WireModel):
    percent: Annotated[float, Field(ge=0, le=100, strict=True)] | None = None
    min_retry_concurrency: UInt32 | None = None
    budget_interval: Duration | None = None


class PortTrafficPolicy(WireModel):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(WireModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: tuple[PortTrafficPolicy, ...] = Field(default=(), max_length=4096)
    tunnel: Tunnel | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


class Subset(WireModel):
    name: str
    labels: Mapping[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(WireModel):
    host: str
    traffic_policy: TrafficPolicy | None = None
    subsets: tuple[Subset, ...] = ()
    export_to: tuple[str, ...] = ()
    workload_selector: MatchLabelsSelector | None = None


class DestinationRule(Resource):
    api_version: Literal[
        "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"
    ] = "networking.istio.io/v1"
    kind: Literal["DestinationRule"] = "DestinationRule"
    spec: DestinationRuleSpec
    status: Mapping[str, object] | None = None
