"""DestinationRule rules (istiod ``validateDestinationRule``; reference §9).

``check_connection_pool`` is shared with Sidecar's inbound connection pools.
"""

from __future__ import annotations

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.istio.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    DestinationRule,
    LoadBalancerSettings,
    LocalityLoadBalancerSetting,
    OutlierDetection,
    PortTrafficPolicy,
    TrafficPolicy,
)
from mainsail.config.validation.rules import (
    Findings,
    check_duration,
    check_export_to,
    check_labels,
    check_port,
    check_wildcard_host,
    dns_name_problem,
    is_dns1123_label,
    is_ip,
)

MAGLEV_MAX_TABLE = 5000011


def validate_destination_rule(dr: DestinationRule) -> list[ConfigError]:
    spec = dr.spec
    f = Findings()
    if not spec.host:
        f.add("spec.host", "host is required", ErrorCode.HOST)
    else:
        check_wildcard_host(f, "spec.host", spec.host, ErrorCode.HOST)
    check_export_to(f, "spec.exportTo", spec.export_to)
    if spec.workload_selector is not None:
        check_labels(
            f,
            "spec.workloadSelector.matchLabels",
            spec.workload_selector.match_labels,
            selector=True,
        )
    if spec.traffic_policy is not None:
        _check_policy(f, "spec.trafficPolicy", spec.traffic_policy)
    names: set[str] = set()
    for i, subset in enumerate(spec.subsets):
        path = f"spec.subsets[{i}]"
        if not is_dns1123_label(subset.name):
            f.add(
                f"{path}.name",
                f"subset name {subset.name!r} must be a DNS-1123 label",
                ErrorCode.DR_SUBSET,
            )
        if subset.name in names:
            f.add(f"{path}.name", f"duplicate subset name {subset.name!r}", ErrorCode.DR_SUBSET)
        names.add(subset.name)
        check_labels(f, f"{path}.labels", subset.labels)
        if subset.traffic_policy is not None:
            _check_policy(f, f"{path}.trafficPolicy", subset.traffic_policy)
    return f.items


def _check_policy(f: Findings, path: str, policy: TrafficPolicy) -> None:
    if policy == TrafficPolicy():
        f.add(path, "traffic policy must set at least one field", ErrorCode.DR_PORT_SETTINGS)
    _check_port_policy(f, path, policy)
    ports: set[int] = set()
    for i, pls in enumerate(policy.port_level_settings):
        where = f"{path}.portLevelSettings[{i}]"
        number = pls.port.number if pls.port is not None else None
        if number is None:
            f.add(
                f"{where}.port",
                "port-level settings need a port number",
                ErrorCode.DR_PORT_SETTINGS,
            )
        else:
            check_port(f, f"{where}.port.number", number)
            if number in ports:
                f.add(
                    f"{where}.port.number",
                    f"duplicate port-level settings for port {number}",
                    ErrorCode.DR_PORT_SETTINGS,
                )
            ports.add(number)
        _check_port_policy(f, where, pls)
    if policy.tunnel is not None:
        t = policy.tunnel
        if t.protocol not in (None, "", "CONNECT", "POST"):
            f.add(
                f"{path}.tunnel.protocol",
                f"tunnel protocol {t.protocol!r} must be CONNECT or POST",
                ErrorCode.DR_TUNNEL,
            )
        if not is_ip(t.target_host) and dns_name_problem(t.target_host):
            f.add(
                f"{path}.tunnel.targetHost",
                f"{t.target_host!r} is not an IP or DNS name",
                ErrorCode.DR_TUNNEL,
            )
        check_port(f, f"{path}.tunnel.targetPort", t.target_port)
    lb = policy.load_balancer
    locality = lb.locality_lb_setting if lb is not None else None
    if locality is not None and locality.failover and policy.outlier_detection is None:
        f.warn(
            f"{path}.loadBalancer.localityLbSetting.failover",
            "failover has no effect without outlierDetection",
            ErrorCode.DR_LOCALITY,
        )
    if policy.retry_budget is not None:
        check_duration(f, f"{path}.retryBudget.budgetInterval", policy.retry_budget.budget_interval)


def _check_port_policy(f: Findings, path: str, policy: TrafficPolicy | PortTrafficPolicy) -> None:
    if policy.load_balancer is not None:
        _check_load_balancer(f, f"{path}.loadBalancer", policy.load_balancer)
    if policy.connection_pool is not None:
        check_connection_pool(f, f"{path}.connectionPool", policy.connection_pool)
    if policy.outlier_detection is not None:
        _check_outlier(f, f"{path}.outlierDetection", policy.outlier_detection)
    if policy.tls is not None:
        _check_tls(f, f"{path}.tls", policy.tls)


def check_connection_pool(f: Findings, path: str, pool: ConnectionPoolSettings) -> None:
    if pool.http is None and pool.tcp is None:
        f.add(path, "connection pool must set http or tcp settings", ErrorCode.DR_CONNECTION_POOL)
    if pool.http is not None:
        h = pool.http
        for name, value in (
            ("http1MaxPendingRequests", h.http1_max_pending_requests),
            ("http2MaxRequests", h.http2_max_requests),
            ("maxRequestsPerConnection", h.max_requests_per_connection),
            ("maxRetries", h.max_retries),
            ("maxConcurrentStreams", h.max_concurrent_streams),
        ):
            if value is not None and value < 0:
                f.add(f"{path}.http.{name}", "must be >= 0", ErrorCode.DR_CONNECTION_POOL)
        check_duration(f, f"{path}.http.idleTimeout", h.idle_timeout)
        if h.use_client_protocol and h.h2_upgrade_policy == "UPGRADE":
            f.add(
                f"{path}.http",
                "useClientProtocol cannot be combined with h2UpgradePolicy UPGRADE",
                ErrorCode.DR_CONNECTION_POOL,
            )
        if h.http2_keep_alive is not None:
            check_duration(f, f"{path}.http.http2KeepAlive.interval", h.http2_keep_alive.interval)
            check_duration(f, f"{path}.http.http2KeepAlive.timeout", h.http2_keep_alive.timeout)
    if pool.tcp is not None:
        t = pool.tcp
        if t.max_connections is not None and t.max_connections < 0:
            f.add(f"{path}.tcp.maxConnections", "must be >= 0", ErrorCode.DR_CONNECTION_POOL)
        check_duration(f, f"{path}.tcp.connectTimeout", t.connect_timeout)
        check_duration(f, f"{path}.tcp.maxConnectionDuration", t.max_connection_duration)
        check_duration(f, f"{path}.tcp.idleTimeout", t.idle_timeout)
        if t.tcp_keepalive is not None:
            check_duration(f, f"{path}.tcp.tcpKeepalive.time", t.tcp_keepalive.time)
            check_duration(f, f"{path}.tcp.tcpKeepalive.interval", t.tcp_keepalive.interval)


def _check_outlier(f: Findings, path: str, o: OutlierDetection) -> None:
    if o.consecutive_errors is not None:
        f.warn(
            f"{path}.consecutiveErrors",
            "consecutiveErrors is ignored since Istio 1.7; use consecutive5xxErrors or consecutiveGatewayErrors",
            ErrorCode.DR_OUTLIER,
        )
        if o.consecutive_errors < 0:
            f.add(f"{path}.consecutiveErrors", "must be >= 0", ErrorCode.DR_OUTLIER)
    check_duration(f, f"{path}.interval", o.interval)
    check_duration(f, f"{path}.baseEjectionTime", o.base_ejection_time)
    for name, value in (
        ("maxEjectionPercent", o.max_ejection_percent),
        ("minHealthPercent", o.min_health_percent),
    ):
        if value is not None and not 0 <= value <= 100:
            f.add(f"{path}.{name}", f"{value} must be in 0..100", ErrorCode.DR_OUTLIER)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def _check_load_balancer(f: Findings, path: str, lb: LoadBalancerSettings) -> None:
    ch = lb.consistent_hash
    if ch is not None:
        where = f"{path}.consistentHash"
        keys = [
            k
            for k, v in (
                ("httpHeaderName", ch.http_header_name),
                ("httpCookie", ch.http_cookie),
                ("useSourceIp", ch.use_source_ip),
                ("httpQueryParameterName", ch.http_query_parameter_name),
            )
            if v
        ]
        if len(keys) > 1:
            f.add(
                where,
                f"only one hash key may be set, not {', '.join(keys)}",
                ErrorCode.DR_CONSISTENT_HASH,
            )
        if ch.ring_hash is not None and ch.maglev is not None:
            f.add(where, "only one of ringHash and maglev may be set", ErrorCode.DR_CONSISTENT_HASH)
        if ch.http_cookie is not None:
            if not ch.http_cookie.name:
                f.add(
                    f"{where}.httpCookie.name",
                    "cookie name is required",
                    ErrorCode.DR_CONSISTENT_HASH,
                )
            if ch.http_cookie.ttl is not None and ch.http_cookie.ttl.total_seconds() < 0:
                f.add(
                    f"{where}.httpCookie.ttl",
                    "ttl must not be negative",
                    ErrorCode.DR_CONSISTENT_HASH,
                )
        size = ch.maglev.table_size if ch.maglev is not None else None
        if size and (size >= MAGLEV_MAX_TABLE or not _is_prime(size)):
            f.add(
                f"{where}.maglev.tableSize",
                f"table size must be a prime below {MAGLEV_MAX_TABLE}",
                ErrorCode.DR_CONSISTENT_HASH,
            )
    if lb.locality_lb_setting is not None:
        if lb.zone_aware_lb_setting is not None:
            f.add(
                path,
                "only one of localityLbSetting and zoneAwareLbSetting may be set",
                ErrorCode.DR_LOCALITY,
            )
        _check_locality(f, f"{path}.localityLbSetting", lb.locality_lb_setting)
    check_duration(f, f"{path}.warmupDurationSecs", lb.warmup_duration_secs)
    if lb.warmup is not None:
        check_duration(f, f"{path}.warmup.duration", lb.warmup.duration)
        if lb.warmup.aggression is not None and lb.warmup.aggression < 1:
            f.add(
                f"{path}.warmup.aggression", "aggression must be >= 1", ErrorCode.DR_LOAD_BALANCER
            )


def _check_locality(f: Findings, path: str, loc: LocalityLoadBalancerSetting) -> None:
    if loc.distribute and loc.failover:
        f.add(path, "only one of distribute and failover may be set", ErrorCode.DR_LOCALITY)
    for i, d in enumerate(loc.distribute):
        where = f"{path}.distribute[{i}]"
        if not d.from_:
            f.add(f"{where}.from", "'from' locality is required", ErrorCode.DR_LOCALITY)
        if not d.to:
            f.add(f"{where}.to", "'to' localities are required", ErrorCode.DR_LOCALITY)
        for locality, weight in d.to.items():
            if not 1 <= weight <= 100:
                f.add(
                    f"{where}.to[{locality}]",
                    f"weight {weight} must be in 1..100",
                    ErrorCode.DR_LOCALITY,
                )
        if d.to and sum(d.to.values()) != 100:
            f.add(f"{where}.to", "weights must sum to 100", ErrorCode.DR_LOCALITY)
    for i, fo in enumerate(loc.failover):
        where = f"{path}.failover[{i}]"
        if fo.from_ == fo.to:
            f.add(where, "failover 'from' and 'to' must differ", ErrorCode.DR_LOCALITY)
        for name, region in (("from", fo.from_), ("to", fo.to)):
            if not region or "*" in region or "/" in region:
                f.add(
                    f"{where}.{name}",
                    "failover regions must be region names without wildcards",
                    ErrorCode.DR_LOCALITY,
                )


def _check_tls(f: Findings, path: str, tls: ClientTLSSettings) -> None:
    if tls.mode == "ISTIO_MUTUAL":
        for name, value in (
            ("clientCertificate", tls.client_certificate),
            ("privateKey", tls.private_key),
            ("caCertificates", tls.ca_certificates),
            ("credentialName", tls.credential_name),
        ):
            if value:
                f.add(
                    f"{path}.{name}",
                    f"{name} cannot be set with mode ISTIO_MUTUAL",
                    ErrorCode.DR_TLS,
                )
    if tls.mode == "MUTUAL" and not tls.credential_name:
        if not tls.client_certificate:
            f.add(
                f"{path}.clientCertificate",
                "MUTUAL needs clientCertificate (or credentialName)",
                ErrorCode.DR_TLS,
            )
        if not tls.private_key:
            f.add(
                f"{path}.privateKey",
                "MUTUAL needs privateKey (or credentialName)",
                ErrorCode.DR_TLS,
            )
