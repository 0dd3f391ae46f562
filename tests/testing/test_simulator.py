"""The traffic simulator's Envoy semantics, on hand-built config (no translation involved)."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import json_format

from mainsail.testing import envoy_config as ec
from mainsail.testing.route_matching import normalize_path
from mainsail.testing.simulator import Request, SimulationError, Simulator, simulate
from mainsail.xds.resources import XdsResource

IP = "10.1.2.3"
PORT = 8000


def _routes(vhosts: list[dict[str, Any]], **extra: Any) -> XdsResource:
    config = json_format.ParseDict(
        {"name": "main", "virtual_hosts": vhosts, **extra}, route_pb2.RouteConfiguration()
    )
    return XdsResource.pack("main", config)


def _vhost(name: str, domains: list[str], *routes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "domains": domains, "routes": list(routes), **extra}


def _to(cluster: str, match: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": cluster,
        "match": match or {"prefix": "/"},
        "route": {"cluster": cluster, **extra},
    }


def _sim(*vhosts: dict[str, Any], **extra: Any) -> Simulator:
    return Simulator(
        ec.proxy_config(
            listeners=[ec.http_listener("http", IP, PORT, "main")],
            routes=[_routes(list(vhosts), **extra)],
        )
    )


def _go(sim: Simulator, host: str = "a", path: str = "/", **options: Any) -> str | None:
    result = sim.simulate(Request(listener=(IP, PORT), authority=host, path=path, **options))
    return result.route_name if result.outcome != "no_route" else None


# --- virtual hosts


def test_vhost_precedence_exact_then_longest_suffix_then_prefix_then_star() -> None:
    sim = _sim(
        _vhost("star", ["*"], _to("star")),
        _vhost("prefix", ["foo.*"], _to("prefix")),
        _vhost("longer-prefix", ["foo.bar.*"], _to("longer-prefix")),
        _vhost("suffix", ["*.com"], _to("suffix")),
        _vhost("longer-suffix", ["*.example.com"], _to("longer-suffix")),
        _vhost("exact", ["api.example.com"], _to("exact")),
    )
    assert _go(sim, "api.example.com") == "exact"
    assert _go(sim, "API.Example.COM") == "exact"  # case-insensitive
    assert _go(sim, "www.example.com") == "longer-suffix"
    assert _go(sim, "other.com") == "suffix"
    assert _go(sim, "foo.com") == "suffix"  # suffix wildcards beat prefix wildcards
    assert _go(sim, "foo.bar.baz") == "longer-prefix"
    assert _go(sim, "foo.org") == "prefix"
    assert _go(sim, "elsewhere") == "star"
    assert _go(sim, ".example.com") == "suffix"  # a wildcard matches at least one character


def test_ports_in_domains_compare_literally_unless_ignored() -> None:
    vhosts = (
        _vhost("with-port", ["svc:9080"], _to("with-port")),
        _vhost("bare", ["svc"], _to("bare")),
    )
    sim = _sim(*vhosts)
    assert _go(sim, "svc:9080") == "with-port"
    assert _go(sim, "svc") == "bare"
    assert _go(sim, "svc:1234") is None
    ignoring = _sim(_vhost("bare", ["svc"], _to("bare")), ignore_port_in_host_matching=True)
    assert _go(ignoring, "svc:1234") == "bare"
    assert _go(ignoring, "svc") == "bare"


def test_duplicate_domains_are_rejected_like_envoy() -> None:
    sim = _sim(_vhost("a", ["x"], _to("a")), _vhost("b", ["X"], _to("b")))
    with pytest.raises(SimulationError, match="duplicate domain"):
        _go(sim, "x")


def test_no_vhost_is_404_nr() -> None:
    result = _sim(_vhost("a", ["a"], _to("a"))).simulate(Request(listener="http", authority="b"))
    assert result.outcome == "no_route" and result.status == 404 and result.virtual_host is None


# --- route matching


def test_first_match_wins_and_path_specifiers() -> None:
    sim = _sim(
        _vhost(
            "v",
            ["*"],
            _to("exact", {"path": "/exact"}),
            _to("nocase", {"path": "/Upper", "case_sensitive": False}),
            _to("regex", {"safe_regex": {"regex": "/items/[0-9]+"}}),
            _to("separated", {"path_separated_prefix": "/sep"}),
            _to("prefix", {"prefix": "/exact"}),
            _to("catch-all"),
        )
    )
    assert _go(sim, path="/exact") == "exact"
    assert _go(sim, path="/exact?x=1") == "exact"  # the query is not part of the path
    assert _go(sim, path="/exactly") == "prefix"
    assert _go(sim, path="/uPPER") == "nocase"
    assert _go(sim, path="/items/42") == "regex"
    assert _go(sim, path="/items/42?q") == "regex"
    assert _go(sim, path="/items/42/x") == "catch-all"  # regexes match the whole path
    assert _go(sim, path="/sep/x") == "separated"
    assert _go(sim, path="/sep") == "separated"
    assert _go(sim, path="/separate") == "catch-all"


def test_header_matchers() -> None:
    def header(**matcher: Any) -> dict[str, Any]:
        return {"prefix": "/", "headers": [{"name": "x-user", **matcher}]}

    sim = _sim(
        _vhost(
            "v",
            ["*"],
            _to("exact", header(string_match={"exact": "jason"})),
            _to("prefix", header(string_match={"prefix": "ja"})),
            _to("nocase", header(string_match={"exact": "BOB", "ignore_case": True})),
            _to("regex", header(string_match={"safe_regex": {"regex": "a+"}})),
            _to("absent", header(present_match=False)),
            _to("not-eve", header(string_match={"exact": "eve"}, invert_match=True)),
            _to("catch-all"),
        )
    )
    assert _go(sim, headers={"x-user": "jason"}) == "exact"
    assert _go(sim, headers={"X-User": "jane"}) == "prefix"  # names are case-insensitive
    assert _go(sim, headers={"x-user": "bob"}) == "nocase"
    assert _go(sim, headers={"x-user": "aaa"}) == "regex"
    assert _go(sim, headers={"x-user": "aaab"}) == "not-eve"  # regex is a full match
    assert _go(sim) == "absent"
    assert _go(sim, headers={"x-user": "eve"}) == "catch-all"


def test_missing_header_with_invert_needs_treat_missing_as_empty() -> None:
    def without(cluster: str, **extra: Any) -> dict[str, Any]:
        header = {"name": "x-debug", "string_match": {"exact": "1"}, "invert_match": True}
        return _to(cluster, {"prefix": "/", "headers": [{**header, **extra}]})

    plain = _sim(_vhost("v", ["*"], without("inverted"), _to("catch-all")))
    assert _go(plain) == "catch-all"  # Envoy: a missing header never string-matches
    assert _go(plain, headers={"x-debug": "0"}) == "inverted"
    empty = _sim(
        _vhost("v", ["*"], without("inverted", treat_missing_header_as_empty=True), _to("all"))
    )
    assert _go(empty) == "inverted"
    present = _sim(
        _vhost(
            "v",
            ["*"],
            _to("no-debug", {"prefix": "/", "headers": [
                {"name": "x-debug", "present_match": True, "invert_match": True}
            ]}),
            _to("catch-all"),
        )
    )  # fmt: skip
    assert _go(present) == "no-debug"
    assert _go(present, headers={"x-debug": ""}) == "catch-all"


def test_pseudo_headers_and_query_parameters() -> None:
    sim = _sim(
        _vhost(
            "v",
            ["*"],
            _to("post", {"prefix": "/", "headers": [
                {"name": ":method", "string_match": {"exact": "POST"}}
            ]}),
            _to("debug", {"prefix": "/", "query_parameters": [
                {"name": "debug", "present_match": True}
            ]}),
            _to("v2", {"prefix": "/", "query_parameters": [
                {"name": "version", "string_match": {"exact": "v2"}}
            ]}),
            _to("catch-all"),
        )
    )  # fmt: skip
    assert _go(sim, method="POST") == "post"
    assert _go(sim, path="/?debug") == "debug"
    assert _go(sim, query={"version": "v2"}) == "v2"
    assert _go(sim, path="/?version=v2&version=v1") == "v2"  # the first value counts
    assert _go(sim, path="/?version=v1&version=v2") == "catch-all"
    assert _go(sim, path="/?version=v%32") == "catch-all"  # not percent-decoded


def test_invalid_regex_raises() -> None:
    sim = _sim(_vhost("v", ["*"], _to("bad", {"safe_regex": {"regex": "(unclosed"}})))
    with pytest.raises(SimulationError, match="invalid regex"):
        _go(sim)


# --- actions


def test_weighted_clusters_and_pick() -> None:
    sim = _sim(
        _vhost(
            "v",
            ["*"],
            {
                "name": "split",
                "match": {"prefix": "/"},
                "route": {
                    "weighted_clusters": {
                        "clusters": [{"name": "a", "weight": 80}, {"name": "b", "weight": 20}]
                    }
                },
            },
        )
    )
    result = sim.simulate(Request(listener="http", authority="x"))
    assert result.outcome == "weighted_clusters"
    assert dict(result.weighted_clusters) == {"a": 80, "b": 20}
    assert result.clusters == ("a", "b") and result.cluster is None
    assert [result.pick(v) for v in (0, 79, 80, 99, 100)] == ["a", "a", "b", "b", "a"]


def test_redirect_location() -> None:
    sim = _sim(
        _vhost(
            "v",
            ["*"],
            {"name": "r1", "match": {"path": "/old"}, "redirect": {"path_redirect": "/new"}},
            {
                "name": "r2",
                "match": {"prefix": "/v1/"},
                "redirect": {"prefix_rewrite": "/v2/", "response_code": "FOUND"},
            },
            {
                "name": "r3",
                "match": {"prefix": "/secure"},
                "redirect": {"scheme_redirect": "https", "host_redirect": "secure.example"},
            },
            {"name": "r4", "match": {"prefix": "/port"}, "redirect": {"port_redirect": 8443}},
        )
    )

    def location(path: str, host: str = "web:80") -> tuple[int | None, str]:
        result = sim.simulate(Request(listener="http", authority=host, path=path))
        assert result.outcome == "redirect" and result.redirect is not None
        return result.status, result.redirect.location

    assert location("/old?x=1") == (301, "http://web:80/new?x=1")
    assert location("/v1/items") == (302, "http://web:80/v2/items")
    assert location("/secure") == (301, "https://secure.example/secure")
    assert location("/port", "web:9000") == (301, "http://web:8443/port")


def test_direct_response_rewrites_and_route_details() -> None:
    sim = _sim(
        _vhost(
            "v",
            ["*"],
            {
                "name": "teapot",
                "match": {"path": "/tea"},
                "direct_response": {"status": 418, "body": {"inline_string": "short and stout"}},
            },
            {
                "name": "rewrite",
                "match": {"prefix": "/api/"},
                "route": {
                    "cluster": "api",
                    "prefix_rewrite": "/",
                    "host_rewrite_literal": "api.internal",
                    "timeout": "3s",
                    "retry_policy": {"retry_on": "5xx", "num_retries": 4},
                    "request_mirror_policies": [{"cluster": "shadow"}],
                },
                "request_headers_to_add": [
                    {
                        "header": {"key": "x-route", "value": "1"},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
            },
            {
                "name": "regex-rewrite",
                "match": {"prefix": "/users/"},
                "route": {
                    "cluster": "users",
                    "regex_rewrite": {
                        "pattern": {"regex": "^/users/([0-9]+)$"},
                        "substitution": "/u/\\1",
                    },
                },
            },
            request_headers_to_add=[{"header": {"key": "x-vhost", "value": "1"}}],
        )
    )
    teapot = sim.simulate(Request(listener="http", authority="x", path="/tea"))
    assert teapot.outcome == "direct_response" and teapot.status == 418
    assert teapot.direct_response is not None and teapot.direct_response.body == b"short and stout"

    api = sim.simulate(Request(listener="http", authority="x", path="/api/items?q=1"))
    assert api.outcome == "cluster" and api.cluster == "api" and api.status is None
    assert api.upstream_path == "/items?q=1" and api.upstream_authority == "api.internal"
    assert api.timeout is not None and api.timeout.total_seconds() == 3
    assert api.retry_policy is not None and api.retry_policy.num_retries.value == 4
    assert api.mirror_clusters == ("shadow",)
    assert [(h.level, h.name) for h in api.request_headers_to_add] == [
        ("route", "x-route"),
        ("virtual_host", "x-vhost"),
    ]
    assert api.upstreams["api"].cluster is None  # not in CDS

    users = sim.simulate(Request(listener="http", authority="x", path="/users/7?full"))
    assert users.upstream_path == "/u/7?full"
    assert users.timeout is not None and users.timeout.total_seconds() == 15  # Envoy's default


def test_path_normalization() -> None:
    assert normalize_path("/a/./b/../c?x=/../", merge_slashes=False) == "/a/c?x=/../"
    assert normalize_path("/../a//b/", merge_slashes=True) == "/a/b/"
    assert normalize_path("/a/b/..", merge_slashes=False) == "/a/"


# --- listeners, chains, clusters


def _tcp_listener(name: str, address: str, port: int, chains: list[dict[str, Any]]) -> XdsResource:
    listener = listener_pb2.Listener(name=name)
    listener.address.socket_address.address = address
    listener.address.socket_address.port_value = port
    for spec in chains:
        chain = listener.filter_chains.add(name=spec["cluster"])
        if "match" in spec:
            json_format.ParseDict(spec["match"], chain.filter_chain_match)
        proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=spec["cluster"], cluster=spec["cluster"])
        chain.filters.add(name="envoy.filters.network.tcp_proxy").typed_config.Pack(proxy)
    return XdsResource.pack(name, listener)


def test_listener_by_address_then_wildcard_and_tcp_chains() -> None:
    sim = Simulator(
        ec.proxy_config(
            clusters=[XdsResource.pack("db", cluster_pb2.Cluster(name="db", type=cluster_pb2.Cluster.EDS))],
            endpoints=[ec.endpoints("db", [("10.0.0.7", 5432), ("10.0.0.8", 5432)])],
            listeners=[
                _tcp_listener("exact", IP, 5432, [{"cluster": "db"}]),
                _tcp_listener(
                    "wild",
                    "0.0.0.0",
                    5432,
                    [
                        {"cluster": "inner", "match": {"prefix_ranges": [{"address_prefix": "10.9.0.0", "prefix_len": 16}]}},
                        {"cluster": "innermost", "match": {"prefix_ranges": [{"address_prefix": "10.9.9.0", "prefix_len": 24}]}},
                        {"cluster": "other", "match": {"destination_port": 9999}},
                    ],
                ),
            ],
        )
    )  # fmt: skip
    exact = sim.simulate(Request(listener=(IP, 5432)))
    assert (exact.outcome, exact.listener, exact.cluster) == ("tcp", "exact", "db")
    assert [(e.address, e.port) for e in exact.endpoints] == [
        ("10.0.0.7", 5432),
        ("10.0.0.8", 5432),
    ]
    assert exact.upstreams["db"].discovery_type == "EDS"
    assert sim.simulate(Request(listener=("10.9.9.9", 5432))).cluster == "innermost"
    assert sim.simulate(Request(listener=("10.9.1.1", 5432))).cluster == "inner"
    assert sim.simulate(Request(listener=("10.8.1.1", 5432))).outcome == "no_filter_chain"
    assert sim.simulate(Request(listener=(IP, 5433))).outcome == "no_listener"


def test_missing_rds_raises_and_inline_route_config_works() -> None:
    with pytest.raises(SimulationError, match="RDS"):
        simulate(
            ec.proxy_config(listeners=[ec.http_listener("h", IP, PORT, "gone")]),
            Request(listener="h"),
        )
    manager = hcm_pb2.HttpConnectionManager(stat_prefix="inline")
    json_format.ParseDict(
        {"name": "inline", "virtual_hosts": [_vhost("v", ["*"], _to("local"))]},
        manager.route_config,
    )
    listener = listener_pb2.Listener(name="in")
    listener.address.socket_address.address = IP
    listener.address.socket_address.port_value = 9080
    chain = listener.filter_chains.add()
    chain.filters.add(name="envoy.filters.network.http_connection_manager").typed_config.Pack(
        manager
    )
    result = simulate(
        ec.proxy_config(listeners=[XdsResource.pack("in", listener)]), Request(listener=(IP, 9080))
    )
    assert (result.route_config, result.cluster) == ("inline", "local")
