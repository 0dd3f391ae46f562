"""Hand-built minimal Envoy resources for ADS tests (not Mainsail's translation), packed once.

``proxy_config`` assembles them into the ``ProxyConfig`` a test generator returns.
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import regex_pb2
from google.protobuf import any_pb2, duration_pb2

from mainsail import naming
from mainsail.xds.resources import ProxyConfig, XdsResource


def _ads_source() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.ApiVersion.V3,
    )


def _any(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def eds_cluster(name: str, *, connect_timeout_ms: int = 1000) -> XdsResource:
    """An EDS cluster over ADS. A negative timeout makes Envoy reject it (for NACK tests)."""
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        connect_timeout=duration_pb2.Duration(
            seconds=connect_timeout_ms // 1000, nanos=(connect_timeout_ms % 1000) * 1_000_000
        ),
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=_ads_source()),
    )
    return XdsResource.pack(name, cluster)


def endpoints(cluster: str, addresses: Iterable[tuple[str, int]]) -> XdsResource:
    assignment = endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(
                            address=address_pb2.Address(
                                socket_address=address_pb2.SocketAddress(
                                    address=host, port_value=port
                                )
                            )
                        )
                    )
                    for host, port in addresses
                ]
            )
        ],
    )
    return XdsResource.pack(cluster, assignment)


def http_listener(name: str, host: str, port: int, route_name: str) -> XdsResource:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(route_config_name=route_name, config_source=_ads_source()),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=_any(router_pb2.Router())
            )
        ],
    )
    listener = listener_pb2.Listener(
        name=name,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=host, port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=_any(manager),
                    )
                ]
            )
        ],
    )
    return XdsResource.pack(name, listener)


def route_to(name: str, cluster: str, *, regex: str | None = None) -> XdsResource:
    """All paths (or those matching ``regex``; an invalid one makes Envoy NACK) to ``cluster``."""
    match = (
        route_components_pb2.RouteMatch(prefix="/")
        if regex is None
        else route_components_pb2.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex=regex))
    )
    config = route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name="all",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=match, route=route_components_pb2.RouteAction(cluster=cluster)
                    )
                ],
            )
        ],
    )
    return XdsResource.pack(name, config)


def proxy_config(
    *,
    clusters: Iterable[XdsResource] = (),
    endpoints: Iterable[XdsResource] = (),
    listeners: Iterable[XdsResource] = (),
    routes: Iterable[XdsResource] = (),
    secrets: Iterable[XdsResource] = (),
) -> ProxyConfig:
    return ProxyConfig.of(
        {
            naming.CLUSTER_TYPE: clusters,
            naming.ENDPOINT_TYPE: endpoints,
            naming.LISTENER_TYPE: listeners,
            naming.ROUTE_TYPE: routes,
            naming.SECRET_TYPE: secrets,
        }
    )
