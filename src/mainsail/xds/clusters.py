"""CDS: outbound service clusters (and DestinationRule subsets), inbound clusters, special clusters.

Reads: services (registry), DestinationRule (via ``snapshot.destination_rules``), MeshConfig.

Connection pool, outlier detection and the packed HTTP options live in ``cluster_policies.py``,
TLS in ``cluster_tls.py``/``tls.py``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2
from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.clusters.common.dns.v3 import dns_pb2
from envoy.extensions.clusters.dns.v3 import dns_cluster_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from mainsail import naming
from mainsail.config.istio.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    LoadBalancerSettings,
)
from mainsail.registry.model import MeshService, Resolution, ServicePort
from mainsail.registry.protocol import Protocol
from mainsail.snapshot.destination_rules import AppliedRule, destination_rule_for, policy_for
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.cluster_policies import (
    apply_connection_pool,
    apply_outlier_detection,
    http_options,
    set_http_options,
    store_http_options,
)
from mainsail.xds.cluster_tls import upstream_tls
from mainsail.xds.forward_proxy import make_forward_proxy_cluster
from mainsail.xds.locality import locality_setting, wants_locality_weighted_config
from mainsail.xds.protos import MAX_UINT32, ads_source, duration, socket_address, struct, uint32

DNS_CLUSTER_EXTENSION = "envoy.clusters.dns"

_SIMPLE_LB = {
    "ROUND_ROBIN": cluster_pb2.Cluster.ROUND_ROBIN,
    "LEAST_REQUEST": cluster_pb2.Cluster.LEAST_REQUEST,
    "LEAST_CONN": cluster_pb2.Cluster.LEAST_REQUEST,
    "RANDOM": cluster_pb2.Cluster.RANDOM,
    "UNSPECIFIED": cluster_pb2.Cluster.LEAST_REQUEST,
}


def build_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    return [*build_local_clusters(snapshot, view), *build_outbound_clusters(snapshot, view)]


def build_local_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    """The special clusters and this proxy's own inbound clusters."""
    return [*_special_clusters(snapshot, view), *_inbound_clusters(view)]


def build_outbound_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    """Service clusters: they depend only on the proxy's namespace, address family and what it
    sees (``xds.generate.Translator`` shares them between proxies on that basis)."""
    clusters = []
    for service in view.visible_services:
        rule = destination_rule_for(
            snapshot, view.node.namespace, service.hostname, service.namespace, view.node.label_map
        )
        for port in service.ports:
            if port.protocol == "UDP":
                continue
            for subset in ["", *(s.name for s in rule.subsets)] if rule else [""]:
                clusters.append(_service_cluster(snapshot, view, service, port, subset, rule))
    return clusters


def _service_cluster(
    snapshot: MeshSnapshot,
    view: ProxyView,
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
        circuit_breakers=default_circuit_breakers(),
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
    # Flat, so the stats access logger reads them without CEL (xds/telemetry_metrics.py).
    cluster.metadata.filter_metadata[naming.SERVICE_METADATA_NAMESPACE].CopyFrom(
        struct({"host": service.hostname, "name": service.name, "namespace": service.namespace})
    )
    _set_discovery(snapshot, view, cluster, service, port, subset, rule)
    if port.protocol.is_http2:
        set_http_options(
            cluster,
            http_protocol_options_pb2.HttpProtocolOptions(
                explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                    http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
                )
            ),
        )
    elif port.protocol == "UnsupportedProtocol" and view.node.proxy_type == "sidecar":
        # A sniffed port: speak upstream whatever the client spoke (istiod does the same).
        set_http_options(
            cluster,
            http_protocol_options_pb2.HttpProtocolOptions(
                use_downstream_protocol_config=http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig(
                    http_protocol_options=protocol_pb2.Http1ProtocolOptions(),
                    http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
                )
            ),
        )
    policy = policy_for(rule, port.port, subset)
    _apply_policy(snapshot, view, cluster, policy, port)
    _apply_tls(snapshot, view, cluster, service, port.port, subset, rule, policy.get("tls"))
    return cluster


def _apply_tls(
    snapshot: MeshSnapshot,
    view: ProxyView,
    cluster: cluster_pb2.Cluster,
    service: MeshService,
    port: int,
    subset: str,
    rule: AppliedRule | None,
    settings: ClientTLSSettings | None,
) -> None:
    """The DestinationRule's ``tls``, else auto mTLS (``xds.cluster_tls``)."""
    selector = rule is not None and rule.sources[0].spec.workload_selector is not None
    decided = upstream_tls(
        snapshot,
        service,
        port,
        subset,
        settings,
        cluster=cluster,
        http2=http_options(cluster).explicit_http_config.HasField("http2_protocol_options"),
        credential_names=view.node.proxy_type == "router" or selector,
    )
    if decided.transport_socket is not None:
        cluster.transport_socket.CopyFrom(decided.transport_socket)
    cluster.transport_socket_matches.extend(decided.socket_matches)
    if decided.auto_sni or decided.auto_san_validation:
        options = http_options(cluster)
        upstream = options.upstream_http_protocol_options
        upstream.auto_sni = decided.auto_sni
        upstream.auto_san_validation = decided.auto_san_validation
        store_http_options(cluster, options)


def _set_discovery(
    snapshot: MeshSnapshot,
    view: ProxyView,
    cluster: cluster_pb2.Cluster,
    service: MeshService,
    port: ServicePort,
    subset: str,
    rule: AppliedRule | None,
) -> None:
    resolution = effective_resolution(service, view)
    if resolution is Resolution.PASSTHROUGH:
        if forwards_by_name(service, port, view):
            make_forward_proxy_cluster(cluster, view.node.ip)
            return
        static = _static_passthrough_addresses(service, view)
        if static:
            # Local platform, a TCP port of a ``resolution: NONE`` entry with addresses: the app
            # dialled our listener, so "the original destination" is the entry's address.
            cluster.type = cluster_pb2.Cluster.STATIC
            cluster.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
            target = port.target_port if isinstance(port.target_port, int) else port.port
            cluster.load_assignment.cluster_name = cluster.name
            cluster.load_assignment.endpoints.add().lb_endpoints.extend(
                endpoint_components_pb2.LbEndpoint(
                    endpoint=endpoint_components_pb2.Endpoint(
                        address=socket_address(address, target)
                    )
                )
                for address in static
            )
            return
        cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        if isinstance(port.target_port, int) and port.target_port != port.port:
            # ServiceEntry ``ports[].targetPort`` with resolution NONE (istiod does the same).
            cluster.original_dst_lb_config.upstream_port_override.value = port.target_port
        return
    if resolution is Resolution.CLIENT_SIDE_LB:
        cluster.type = cluster_pb2.Cluster.EDS
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_source())
        cluster.eds_cluster_config.service_name = cluster.name
        cluster.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
        return
    # DNS resolutions carry their endpoints inline.
    from mainsail.xds.endpoints import load_assignment  # local: endpoints imports this module

    logical = service.resolution is Resolution.DNS_ROUND_ROBIN
    cluster.lb_policy = cluster_pb2.Cluster.LEAST_REQUEST
    # istiod's STRICT_DNS / LOGICAL_DNS cluster with respect_dns_ttl and a 60 s refresh rate,
    # written as Envoy 1.40's DNS cluster extension: the Cluster fields are deprecated.
    dns = dns_cluster_pb2.DnsCluster(
        respect_dns_ttl=True,
        dns_refresh_rate=duration(timedelta(seconds=60)),
        dns_lookup_family=_dns_lookup_family(view.node.ip),
        all_addresses_in_single_endpoint=logical,
    )
    cluster.cluster_type.name = DNS_CLUSTER_EXTENSION
    cluster.cluster_type.typed_config.Pack(dns)
    assignment = load_assignment(snapshot, view, cluster.name, service, port.port, subset, rule)
    if logical and assignment.endpoints:
        # Envoy takes exactly one endpoint for LOGICAL_DNS (else a NACK); istiod keeps the first.
        first = assignment.endpoints[0]
        del first.lb_endpoints[1:]
        first.load_balancing_weight.value = first.lb_endpoints[0].load_balancing_weight.value
        del assignment.endpoints[1:]
    cluster.load_assignment.CopyFrom(assignment)


def effective_resolution(service: MeshService, view: ProxyView) -> Resolution:
    """The service's resolution for this proxy. On the local platform (nothing captured) a
    headless Kubernetes Service is load-balanced over its endpoints (istiod's
    ``PILOT_ENABLE_EDS_FOR_HEADLESS_SERVICES``): there is no original destination to pass to."""
    if (
        service.resolution is Resolution.PASSTHROUGH
        and service.registry == "Kubernetes"
        and local_platform(view)
    ):
        return Resolution.CLIENT_SIDE_LB
    return service.resolution


def local_platform(view: ProxyView) -> bool:
    return view.node.interception_mode == "NONE" and view.node.proxy_type == "sidecar"


def forwards_by_name(service: MeshService, port: ServicePort, view: ProxyView) -> bool:
    """A ``resolution: NONE`` HTTP or TLS port on the local platform: the dynamic forward proxy
    goes to the request's host (or the SNI), as passthrough goes to the connection's original
    destination (``xds.forward_proxy``)."""
    return (
        effective_resolution(service, view) is Resolution.PASSTHROUGH
        and local_platform(view)
        and (
            port.protocol.is_http or port.protocol.is_tls or port.protocol == "UnsupportedProtocol"
        )
    )


def _static_passthrough_addresses(service: MeshService, view: ProxyView) -> list[str]:
    """Single addresses (IPs or host-length CIDRs) of a NONE entry, on the local platform."""
    if not local_platform(view):
        return []
    found = []
    for address in service.addresses:
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            continue
        if network.num_addresses == 1:
            found.append(str(network.network_address))
    return found


def _dns_lookup_family(proxy_ip: str) -> int:
    """istiod: V4_ONLY for an IPv4 proxy, V6_ONLY for an IPv6 one (no dual-stack proxies here)."""
    if ipaddress.ip_address(proxy_ip).version == 6:
        return int(dns_pb2.V6_ONLY)
    return int(dns_pb2.V4_ONLY)


def default_circuit_breakers() -> circuit_breaker_pb2.CircuitBreakers:
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


def _apply_policy(
    snapshot: MeshSnapshot,
    view: ProxyView,
    cluster: cluster_pb2.Cluster,
    policy: dict[str, Any],
    port: ServicePort,
) -> None:
    """istiod's ``applyTrafficPolicy`` order: connection pool, HTTP/2 upgrade, outlier
    detection, then the load balancer (locality failover needs to know about outlier detection)."""
    pool = policy.get("connection_pool")
    if pool is not None:
        apply_connection_pool(cluster, pool, port.protocol)
    _apply_h2_upgrade(snapshot, cluster, pool, port)
    if pool is not None and pool.http is not None:
        _apply_http2_settings(cluster, pool.http)
    outlier = policy.get("outlier_detection")
    if outlier is not None:
        apply_outlier_detection(cluster, outlier, port)
    lb = policy.get("load_balancer")
    setting = locality_setting(snapshot.mesh, lb)
    if wants_locality_weighted_config(setting, cluster.HasField("outlier_detection")):
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()
    if lb is None or cluster.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED:
        return  # ORIGINAL_DST and forward-proxy clusters pick their own hosts
    if lb.simple == "PASSTHROUGH":
        cluster.ClearField("eds_cluster_config")
        cluster.ClearField("load_assignment")
        cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        return
    if lb.simple is not None:
        cluster.lb_policy = _SIMPLE_LB.get(lb.simple, cluster_pb2.Cluster.LEAST_REQUEST)
    elif lb.consistent_hash is not None:
        _apply_consistent_hash(cluster, lb.consistent_hash)
    _apply_warmup(cluster, lb)


def _apply_warmup(cluster: cluster_pb2.Cluster, lb: LoadBalancerSettings) -> None:
    """``warmup`` (or the older ``warmupDurationSecs``) → slow start, for ROUND_ROBIN and
    LEAST_REQUEST only (Envoy has no slow start for the others)."""
    if lb.warmup is not None:
        window = lb.warmup.duration
    elif lb.warmup_duration_secs is not None:
        window = lb.warmup_duration_secs
    else:
        return
    if cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN:
        slow_start = cluster.round_robin_lb_config.slow_start_config
    elif cluster.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST:
        slow_start = cluster.least_request_lb_config.slow_start_config
    else:
        return
    slow_start.slow_start_window.CopyFrom(duration(window))
    if lb.warmup is not None and lb.warmup.aggression is not None:
        slow_start.aggression.default_value = lb.warmup.aggression
        slow_start.aggression.runtime_key = f"upstream.{cluster.name}.slow_start_aggression"
    if lb.warmup is not None and lb.warmup.minimum_percent is not None:
        slow_start.min_weight_percent.value = lb.warmup.minimum_percent


def _apply_h2_upgrade(
    snapshot: MeshSnapshot, cluster: cluster_pb2.Cluster, pool: Any, port: ServicePort
) -> None:
    """istiod's ``shouldH2Upgrade``: the rule's ``h2UpgradePolicy`` (UPGRADE even on a sniffed
    port: the user vouches it is HTTP), else the mesh's, for HTTP ports only."""
    override = pool.http.h2_upgrade_policy if pool is not None and pool.http is not None else None
    if override == "DO_NOT_UPGRADE":
        return
    if override != "UPGRADE" and (
        not port.protocol.is_http or snapshot.mesh.h2_upgrade_policy != "UPGRADE"
    ):
        return
    options = http_options(cluster)
    if options.explicit_http_config.HasField("http2_protocol_options"):
        return
    options.ClearField("use_downstream_protocol_config")
    options.explicit_http_config.http2_protocol_options.SetInParent()
    store_http_options(cluster, options)


def _apply_http2_settings(cluster: cluster_pb2.Cluster, http: Any) -> None:
    """``useClientProtocol``, then ``maxConcurrentStreams``/``http2KeepAlive`` on HTTP/2 clusters."""
    options = http_options(cluster)
    if http.use_client_protocol:
        options.ClearField("explicit_http_config")
        downstream = options.use_downstream_protocol_config
        downstream.http_protocol_options.SetInParent()
        downstream.http2_protocol_options.SetInParent()
    if options.HasField("explicit_http_config"):
        h2 = options.explicit_http_config.http2_protocol_options
        h2_set = options.explicit_http_config.HasField("http2_protocol_options")
    else:
        h2 = options.use_downstream_protocol_config.http2_protocol_options
        h2_set = options.use_downstream_protocol_config.HasField("http2_protocol_options")
    if h2_set and http.max_concurrent_streams:
        h2.max_concurrent_streams.value = http.max_concurrent_streams
    if h2_set and http.http2_keep_alive is not None:
        keepalive = h2.connection_keepalive
        if http.http2_keep_alive.interval is not None:
            keepalive.interval.CopyFrom(duration(http.http2_keep_alive.interval))
        if http.http2_keep_alive.timeout is not None:
            keepalive.timeout.CopyFrom(duration(http.http2_keep_alive.timeout))
    if options.ByteSize():
        store_http_options(cluster, options)


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


def _special_clusters(snapshot: MeshSnapshot, view: ProxyView) -> list[cluster_pb2.Cluster]:
    timeout = duration(snapshot.mesh.connect_timeout)
    passthrough = cluster_pb2.Cluster(
        name=naming.PASSTHROUGH_CLUSTER,
        alt_stat_name=naming.build_alt_stat_name(naming.PASSTHROUGH_CLUSTER),
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        connect_timeout=timeout,
        circuit_breakers=default_circuit_breakers(),
    )
    if local_platform(view):
        # Nothing captured: ``allow_any`` goes where the request's authority says
        # (``xds.forward_proxy``), under Istio's name so stats and proxy-config read the same.
        make_forward_proxy_cluster(passthrough, view.node.ip)
    blackhole = cluster_pb2.Cluster(
        name=naming.BLACKHOLE_CLUSTER,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=timeout,
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(cluster_name=naming.BLACKHOLE_CLUSTER),
    )
    for special in (blackhole, passthrough):
        # Istio's metrics call their service by the cluster's name (xds/telemetry_metrics.py).
        special.metadata.filter_metadata[naming.SERVICE_METADATA_NAMESPACE].CopyFrom(
            struct({"name": special.name})
        )
    return [blackhole, passthrough]


def inbound_connection_pool(view: ProxyView, port: int) -> ConnectionPoolSettings | None:
    """istiod's ``InboundConnectionPoolForPort``: the Sidecar ``ingress`` entry's
    ``connectionPool`` for ``port``, else the Sidecar's ``inboundConnectionPool``, else None."""
    sidecar = view.sidecar
    if sidecar is None:
        return None
    for entry in sidecar.spec.ingress:
        if entry.port.number == port and entry.connection_pool is not None:
            return entry.connection_pool
    return sidecar.spec.inbound_connection_pool


def _inbound_protocol(view: ProxyView, hostname: str, service_port: int) -> Protocol:
    service = view.inbound_service(hostname)
    port = service.port(service_port) if service is not None else None
    return port.protocol if port is not None else Protocol.UNSUPPORTED


def _inbound_clusters(view: ProxyView) -> list[cluster_pb2.Cluster]:
    """``inbound|<port>||`` → the app, at the private port the local platform gave it; the
    Sidecar's ``inboundConnectionPool`` applies to each (Istio 1.21+)."""
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
                circuit_breakers=default_circuit_breakers(),
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
        pool = inbound_connection_pool(view, endpoint.port)
        if pool is not None:
            protocol = _inbound_protocol(view, endpoint.hostname, endpoint.service_port)
            apply_connection_pool(clusters[-1], pool, protocol)
    return clusters
