"""VirtualService binding and route translation rules, on small meshes (reference §3.1, §3.3, §3.6)."""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2

from mainsail import naming
from mainsail.xds.http_routes import CORS_FILTER, FAULT_FILTER

from .cases import Case, generate_case, load_case

REVIEWS = "reviews.default.svc.cluster.local"
RATINGS = "ratings.default.svc.cluster.local"


def _routes(text: str, *, router: bool = False) -> dict[str, route_pb2.RouteConfiguration]:
    base = load_case("default_routes").text
    header = "# proxy: router\n" if router else ""
    config = generate_case(Case("unit", header + text + "\n---\n" + base))
    found = {}
    for name, resource in config.of_type(naming.ROUTE_TYPE).items():
        message = route_pb2.RouteConfiguration()
        resource.body.Unpack(message)
        found[name] = message
    return found


def _vhost(config: route_pb2.RouteConfiguration, name: str) -> rc.VirtualHost:
    return next(v for v in config.virtual_hosts if v.name == name)


def _route_names(text: str, vhost: str = f"{REVIEWS}:9080") -> list[str]:
    return [r.name for r in _vhost(_routes(text)["http_proxy"], vhost).routes]


def _vs(name: str, body: str, namespace: str = "default", created: str = "") -> str:
    stamp = f', creationTimestamp: "{created}"' if created else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}{stamp}}}
spec:
{body}
---
"""


def test_service_without_vs_gets_the_default_route() -> None:
    (route,) = _vhost(_routes("")["http_proxy"], f"{REVIEWS}:9080").routes
    assert route.name == "default" and route.route.cluster == f"outbound|9080||{REVIEWS}"
    assert route.route.timeout.ToTimedelta().total_seconds() == 0
    policy = route.route.retry_policy
    assert policy.num_retries.value == 2 and policy.host_selection_retry_max_attempts == 5
    assert policy.retry_on == (
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    )
    assert [p.name for p in policy.retry_host_predicate] == [
        "envoy.retry_host_predicates.previous_hosts"
    ]


def test_first_match_wins_and_generation_stops_after_a_catch_all() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http:
  - {name: a, match: [{uri: {prefix: /a}}], route: [{destination: {host: reviews}}]}
  - {name: all, route: [{destination: {host: reviews}}]}
  - {name: unreachable, match: [{uri: {prefix: /b}}], route: [{destination: {host: reviews}}]}
""",
    )
    assert _route_names(vs) == ["a", "all"]


def test_no_fallback_route_under_a_vs() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http: [{name: a, match: [{uri: {prefix: /a}}], route: [{destination: {host: reviews}}]}]
""",
    )
    assert _route_names(vs) == ["a"]  # no "default": other paths get Envoy's 404 (NR)


def test_gateway_only_vs_does_not_apply_to_sidecars() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  gateways: [istio-system/public]
  http: [{name: gw, route: [{destination: {host: ratings}}]}]
""",
    )
    assert _route_names(vs) == ["default"]


def test_per_match_gateways_and_mesh() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  gateways: [mesh, istio-system/public]
  http:
  - {name: gw-only, match: [{gateways: [istio-system/public]}], route: [{destination: {host: ratings}}]}
  - {name: mesh-only, match: [{uri: {prefix: /m}, gateways: [mesh]}], route: [{destination: {host: reviews}}]}
""",
    )
    assert _route_names(vs) == ["mesh-only"]


def test_source_labels_and_namespace_are_static_filters() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http:
  - {name: not-me, match: [{sourceLabels: {app: other}}], route: [{destination: {host: ratings}}]}
  - {name: other-ns, match: [{sourceNamespace: other}], route: [{destination: {host: ratings}}]}
  - {name: me, match: [{sourceLabels: {app: client}, uri: {prefix: /x}}], route: [{destination: {host: reviews}}]}
  - {name: my-ns, match: [{sourceNamespace: default}], route: [{destination: {host: reviews}}]}
""",
    )
    assert _route_names(vs) == ["me", "my-ns"]


def test_oldest_exact_vs_wins() -> None:
    newer = _vs(
        "newer",
        "  hosts: [reviews]\n  http: [{name: newer, route: [{destination: {host: reviews}}]}]",
        created="2024-05-01T00:00:00Z",
    )
    older = _vs(
        "older",
        "  hosts: [reviews]\n  http: [{name: older, route: [{destination: {host: reviews}}]}]",
        created="2024-01-01T00:00:00Z",
    )
    assert _route_names(newer + older) == ["older"]


def test_exact_host_beats_wildcard_and_most_specific_wildcard_wins() -> None:
    wide = _vs(
        "wide",
        '  hosts: ["*.svc.cluster.local"]\n  http: [{name: wide, route: [{destination: {host: reviews}}]}]',
        created="2024-01-01T00:00:00Z",
    )
    narrow = _vs(
        "narrow",
        '  hosts: ["*.default.svc.cluster.local"]\n  http: [{name: narrow, route: [{destination: {host: reviews}}]}]',
        created="2024-02-01T00:00:00Z",
    )
    exact = _vs(
        "exact",
        "  hosts: [reviews]\n  http: [{name: exact, route: [{destination: {host: reviews}}]}]",
        created="2024-03-01T00:00:00Z",
    )
    assert _route_names(wide + narrow) == ["narrow"]
    assert _route_names(wide + narrow + exact) == ["exact"]
    details = "details.other.svc.cluster.local:80"
    assert _route_names(wide + narrow, details) == ["wide"]


def test_vs_not_exported_to_the_proxy_namespace_is_ignored() -> None:
    hidden = _vs(
        "hidden",
        '  hosts: [details]\n  exportTo: ["."]\n  http: [{name: hidden, route: [{destination: {host: details}}]}]',
        namespace="other",
    )
    assert _route_names(hidden, "details.other.svc.cluster.local:80") == ["default"]


def test_match_translation_details() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http:
  - name: m
    match:
    - uri: {exact: /A}
      ignoreUriCase: true
      headers: {b: {prefix: x}, a: {regex: "*"}}
      withoutHeaders: {c: {exact: "1"}, d: {}}
      queryParams: {q: {regex: "*"}, p: {exact: ""}, r: {regex: "[0-9]+"}}
    route: [{destination: {host: reviews}}]
""",
    )
    (route,) = _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes
    match = route.match
    assert match.path == "/A" and match.case_sensitive.value is False
    headers = {h.name: h for h in match.headers}
    assert [h.name for h in match.headers] == ["a", "b", "c", "d"]  # sorted by name
    assert headers["a"].present_match and headers["b"].string_match.prefix == "x"
    assert headers["c"].invert_match and headers["c"].treat_missing_header_as_empty
    assert headers["d"].invert_match and headers["d"].present_match
    params = {q.name: q for q in match.query_parameters}
    assert params["q"].present_match and params["p"].present_match
    assert params["r"].string_match.safe_regex.regex == "[0-9]+"


def test_weights_and_destination_ports() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews}, weight: 100}
    - {destination: {host: ratings}, weight: 0}
""",
    )
    (route,) = _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes
    # several destinations stay weighted clusters; the weight-0 one is dropped
    assert [(c.name, c.weight.value) for c in route.route.weighted_clusters.clusters] == [
        (f"outbound|9080||{REVIEWS}", 100)
    ]
    # ratings has two ports: without destination.port the listener's port (9080) is used
    vs = _vs("r", "  hosts: [reviews]\n  http: [{route: [{destination: {host: ratings}}]}]")
    (route,) = _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes
    assert route.route.cluster == f"outbound|9080||{RATINGS}"


def test_fault_percentages() -> None:
    vs = _vs(
        "r",
        """  hosts: [reviews]
  http:
  - name: none
    match: [{uri: {prefix: /n}}]
    fault: {delay: {fixedDelay: 1s}, abort: {httpStatus: 503}}
    route: [{destination: {host: reviews}}]
  - name: legacy
    match: [{uri: {prefix: /l}}]
    fault: {delay: {fixedDelay: 1s, percent: 30}}
    route: [{destination: {host: reviews}}]
  - name: fraction
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}}
    route: [{destination: {host: reviews}}]
""",
    )
    faults = {}
    for route in _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes:
        fault = fault_pb2.HTTPFault()
        route.typed_per_filter_config[FAULT_FILTER].Unpack(fault)
        faults[route.name] = fault
    # no percentage: never injected, as with istiod
    assert faults["none"].delay.percentage.numerator == 0
    assert not faults["none"].abort.HasField("percentage")
    assert faults["none"].abort.http_status == 503
    legacy = faults["legacy"].delay.percentage
    assert (legacy.numerator, legacy.denominator) == (30, 0)  # HUNDRED
    fraction = faults["fraction"].abort
    assert fraction.grpc_status == 14
    assert (fraction.percentage.numerator, fraction.percentage.denominator) == (5000, 2)


def test_gateway_binding_and_server_host_namespaces() -> None:
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["default/*.shop.com", "./own.local", "*/any.local"]
---
"""
    bound = [
        _vs(
            name,
            f"  hosts: [{host}]\n  gateways: [istio-system/gw]\n"
            "  http: [{route: [{destination: {host: reviews.default.svc.cluster.local}}]}]",
            namespace=namespace,
        )
        for name, host, namespace in [
            ("shop", "www.shop.com", "default"),  # default/*.shop.com admits it
            ("shop-other-ns", "api.shop.com", "other"),  # wrong namespace
            ("own", "own.local", "istio-system"),  # "." = the gateway's namespace
            ("own-other-ns", "own.local", "default"),
            ("any", "any.local", "other"),
            ("mismatch", "nope.local", "default"),  # no server host intersects
        ]
    ]
    mesh_only = _vs(
        "mesh-only", "  hosts: [mesh.shop.com]\n  http: [{route: [{destination: {host: reviews}}]}]"
    )
    config = _routes(gateway + "".join(bound) + mesh_only, router=True)["http.80"]
    assert config.ignore_port_in_host_matching
    assert sorted(v.name for v in config.virtual_hosts) == [
        "any.local:80",
        "own.local:80",
        "www.shop.com:80",
    ]
    assert list(_vhost(config, "own.local:80").domains) == ["own.local"]


def test_gateway_port_without_vs_is_a_blackhole() -> None:
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
"""
    (vhost,) = _routes(gateway, router=True)["http.80"].virtual_hosts
    assert vhost.name == "blackhole:80" and list(vhost.domains) == ["*"] and not vhost.routes


def test_redirect_leaves_the_schemes_default_port_out() -> None:
    def redirect(spec: str) -> rc.RedirectAction:
        body = f"  hosts: [reviews]\n  http:\n  - redirect: {{{spec}}}\n"
        (route,) = _vhost(_routes(_vs("r", body))["http_proxy"], f"{REVIEWS}:9080").routes
        return route.redirect

    assert redirect("authority: a.example, port: 80").port_redirect == 0
    assert redirect("scheme: https, authority: a.example, port: 443").port_redirect == 0
    assert redirect("scheme: https, authority: a.example, port: 80").port_redirect == 80
    assert redirect("authority: a.example, derivePort: FROM_REQUEST_PORT").port_redirect == 9080


def test_cors_policy_is_the_routes_cors_filter_config() -> None:
    vs = _vs(
        "reviews",
        """  hosts: [reviews]
  http:
  - name: modern
    match: [{uri: {prefix: /a}}]
    route: [{destination: {host: reviews}}]
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {prefix: "https://b."}, {regex: ".*\\\\.c\\\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-a, x-b]
      exposeHeaders: [x-c]
      maxAge: 24h
      allowCredentials: true
  - name: legacy
    route: [{destination: {host: reviews}}]
    corsPolicy: {allowOrigin: ["https://old.example"], unmatchedPreflights: IGNORE}
""",
    )
    modern, legacy = _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes
    policy = cors_pb2.CorsPolicy()
    modern.typed_per_filter_config[CORS_FILTER].Unpack(policy)
    origins = [m.WhichOneof("match_pattern") for m in policy.allow_origin_string_match]
    assert origins == ["exact", "prefix", "safe_regex"]
    assert policy.allow_origin_string_match[2].safe_regex.regex == ".*\\.c\\.example"
    assert (policy.allow_methods, policy.allow_headers, policy.expose_headers) == (
        "GET,POST",
        "x-a,x-b",
        "x-c",
    )
    assert policy.max_age == "86400" and policy.allow_credentials.value
    assert policy.filter_enabled.default_value.numerator == 100
    assert policy.forward_not_matching_preflights.value
    legacy.typed_per_filter_config[CORS_FILTER].Unpack(policy := cors_pb2.CorsPolicy())
    assert [m.exact for m in policy.allow_origin_string_match] == ["https://old.example"]
    assert not policy.forward_not_matching_preflights.value
    assert not policy.HasField("allow_credentials") and policy.max_age == ""


def test_route_decorators_name_the_host_or_the_virtual_service() -> None:
    vs = _vs(
        "reviews",
        """  hosts: [reviews]
  http:
  - match: [{uri: {exact: /one}}]
    route: [{destination: {host: reviews}}]
  - match: [{uri: {regex: "/r/[0-9]+"}}]
    route: [{destination: {host: reviews, subset: v1}, weight: 50},
            {destination: {host: reviews, subset: v2}, weight: 50}]
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - route: [{destination: {host: ratings}}]
""",
    )
    routes = _vhost(_routes(vs)["http_proxy"], f"{REVIEWS}:9080").routes
    assert [r.decorator.operation for r in routes] == [
        f"{REVIEWS}:9080/one",
        "reviews:9080/r/[0-9]+",
        "reviews:9080/old*",
        f"{RATINGS}:9080/*",
    ]


def test_gateway_merges_virtual_services_of_one_host_oldest_first_catch_alls_last() -> None:
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*/shop.com"]}]
---
"""
    body = "  hosts: [shop.com]\n  gateways: [istio-system/gw]\n  http:\n{}"
    newer = _vs(
        "newer",
        body.format("  - {name: newer, match: [{uri: {prefix: /b}}], "
                    "route: [{destination: {host: reviews}}]}"),
        created="2024-05-01T00:00:00Z",
    )  # fmt: skip
    older = _vs(
        "older",
        body.format("  - {name: older-a, match: [{uri: {prefix: /a}}], "
                    "route: [{destination: {host: reviews}}]}\n"
                    "  - {name: older-rest, route: [{destination: {host: ratings}}]}"),
        created="2024-01-01T00:00:00Z",
    )  # fmt: skip
    config = _routes(gateway + newer + older, router=True)["http.80"]
    assert [r.name for r in _vhost(config, "shop.com:80").routes] == [
        "older-a",
        "newer",
        "older-rest",
    ]


DELEGATING = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-root, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: root
    match: [{uri: {prefix: /api}}]
    delegate: {name: reviews-api, namespace: other}
    timeout: 5s
  - name: rest
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-api, namespace: other}
spec:
  http:
  - name: v2
    match: [{uri: {prefix: /api/v2}, headers: {x-b: {exact: "1"}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - name: all
    route: [{destination: {host: details}}]
---
"""


def test_delegate_routes_appear_under_the_root_host_and_never_alone() -> None:
    config = _routes(DELEGATING)["http_proxy"]
    routes = _vhost(config, f"{REVIEWS}:9080").routes
    assert [r.name for r in routes] == ["root-v2", "root-all", "rest"]
    v2, everything, _ = routes
    assert v2.match.prefix == "/api/v2" and [h.name for h in v2.match.headers] == ["x-b"]
    assert v2.route.cluster == f"outbound|9080|v2|{REVIEWS}"
    assert v2.route.timeout.ToTimedelta().total_seconds() == 5
    assert everything.match.prefix == "/api"
    # The delegate's short host resolves in its own namespace.
    assert everything.route.cluster == "outbound|80||details.other.svc.cluster.local"
    assert (
        routes[0]
        .metadata.filter_metadata["istio"]["config"]
        .endswith("/namespaces/default/virtual-service/reviews-root")
    )
