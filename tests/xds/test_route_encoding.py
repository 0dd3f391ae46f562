"""``packed_route_configuration`` gives the very bytes (hence version) of packing the whole
RouteConfiguration, from vhosts serialized once and cached with them."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc

from mainsail import naming
from mainsail.snapshot.view import build_proxy_view
from mainsail.xds.resources import XdsResource
from mainsail.xds.route_encoding import packed_route_configuration
from mainsail.xds.routes import Reuse, route_configuration, sidecar_http_proxy_vhosts
from mainsail.xds.translation_cache import TranslationCache
from tests.testing.bookinfo_mesh import bookinfo


def _vhost(name: str, routes: int) -> rc.VirtualHost:
    return rc.VirtualHost(
        name=name,
        domains=[f"{name}:{port}" for port in range(routes)],
        routes=[
            rc.Route(
                name=f"r{i}", match=rc.RouteMatch(prefix=f"/{i}"), route=rc.RouteAction(cluster="c")
            )
            for i in range(routes)
        ],
    )


def test_the_bytes_are_those_of_the_whole_message() -> None:
    cache = TranslationCache()
    cache.new_round()
    # Lengths around the varint boundaries (1, 2 and 3 bytes), and no vhost at all.
    for vhosts in ([], [_vhost("a", 0)], [_vhost("b", 3), _vhost("c", 300), _vhost("d", 2)]):
        whole = XdsResource.pack(
            naming.HTTP_PROXY_ROUTE, route_configuration(naming.HTTP_PROXY_ROUTE, vhosts)
        )
        assembled = packed_route_configuration(naming.HTTP_PROXY_ROUTE, vhosts, cache)
        assert assembled.body == whole.body
        assert (assembled.name, assembled.version) == (whole.name, whole.version)


def test_bookinfo_http_proxy_table_and_reused_vhosts() -> None:
    mesh = bookinfo("destination-rule-all.yaml", "virtual-service-reviews-50-v3.yaml")
    view = build_proxy_view(mesh.snapshot, mesh.productpage())
    cache = TranslationCache()
    for _ in range(2):  # cold, then every service's vhost a hit
        cache.new_round()
        vhosts = sidecar_http_proxy_vhosts(mesh.snapshot, view, Reuse(cache, "k"))
        whole = XdsResource.pack(
            naming.HTTP_PROXY_ROUTE, route_configuration(naming.HTTP_PROXY_ROUTE, vhosts)
        )
        assert (
            packed_route_configuration(naming.HTTP_PROXY_ROUTE, vhosts, cache).version
            == whole.version
        )
