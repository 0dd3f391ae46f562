"""Egress on the local platform: Envoy's dynamic forward proxy behind the HTTP-proxy listener.

Istio sends traffic for unknown hosts (``allow_any``) and for ``resolution: NONE`` services to
``PassthroughCluster``/ORIGINAL_DST clusters: the captured connection's original destination
says where to go. Nothing is captured on the local platform (the app talks to its sidecar's
HTTP-proxy listener), so that address is the sidecar's own. Here the request's authority says
where to go instead: the ``envoy.filters.http.dynamic_forward_proxy`` filter resolves the host
(``host[:port]``, default port 80) through a DNS cache and the ``envoy.clusters.dynamic_forward_proxy``
cluster connects to it. The filter does nothing for requests routed to other clusters.

Every forward-proxy cluster and the filter share one DNS cache; Envoy requires them to be
configured identically, so this module is the only place that builds it.

Reads: MeshConfig ``connectTimeout``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster_pb2
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.xds.protos import duration

FORWARD_PROXY_FILTER = "envoy.filters.http.dynamic_forward_proxy"
FORWARD_PROXY_CLUSTER_EXTENSION = "envoy.clusters.dynamic_forward_proxy"
# The mesh's DNS refresh rate (istiod's 60 s for DNS clusters); hosts unused for 5 minutes
# leave the cache (Envoy's default).
_DNS_REFRESH = timedelta(seconds=60)


def dns_cache_config(proxy_ip: str) -> dns_cache_pb2.DnsCacheConfig:
    # This field takes the Cluster's DnsLookupFamily (V4_ONLY = 1), not the DNS extension's.
    v6 = ipaddress.ip_address(proxy_ip).version == 6
    family = cluster_pb2.Cluster.V6_ONLY if v6 else cluster_pb2.Cluster.V4_ONLY
    return dns_cache_pb2.DnsCacheConfig(
        name=naming.FORWARD_PROXY_DNS_CACHE,
        dns_lookup_family=family,
        dns_refresh_rate=duration(_DNS_REFRESH),
    )


def forward_proxy_filter_config(proxy_ip: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(dynamic_forward_proxy_pb2.FilterConfig(dns_cache_config=dns_cache_config(proxy_ip)))
    return packed


def make_forward_proxy_cluster(cluster: cluster_pb2.Cluster, proxy_ip: str) -> None:
    """Turn ``cluster`` into a dynamic-forward-proxy cluster (its other fields stay)."""
    cluster.ClearField("cluster_discovery_type")
    cluster.ClearField("eds_cluster_config")
    cluster.ClearField("load_assignment")
    cluster.ClearField("original_dst_lb_config")
    cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
    cluster.cluster_type.name = FORWARD_PROXY_CLUSTER_EXTENSION
    cluster.cluster_type.typed_config.Pack(
        dfp_cluster_pb2.ClusterConfig(dns_cache_config=dns_cache_config(proxy_ip))
    )
