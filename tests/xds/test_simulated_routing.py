"""Istio's routing behaviours, read from generated config alone through the traffic simulator.

BookInfo (the sample manifests, one Pod per Deployment) with Istio's networking samples; each
test asks where a request from the productpage sidecar (through its HTTP-proxy listener) or into
the ingress gateway goes.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mainsail import naming
from mainsail.config.mesh import MeshConfig, OutboundTrafficPolicy
from mainsail.testing.simulator import Request, Result, Simulator

from ..testing.bookinfo_mesh import HTTP_PROXY_PORT, BookInfo, bookinfo, cluster

PRODUCTPAGE = "productpage-v1-0"
GATEWAY = "istio-ingressgateway-0"


def _sidecar(mesh: BookInfo) -> Simulator:
    return Simulator.from_snapshot(mesh.snapshot, mesh.productpage())


def _call(
    mesh: BookInfo,
    host: str,
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    sim: Simulator | None = None,
) -> Result:
    """A call from productpage's app through its sidecar's HTTP proxy (``HTTP_PROXY``)."""
    sim = sim or _sidecar(mesh)
    listener = (mesh.ip(PRODUCTPAGE), HTTP_PROXY_PORT)
    return sim.simulate(
        Request(listener=listener, authority=host, path=path, headers=headers or {})
    )


def _ingress(mesh: BookInfo, path: str, host: str = "bookinfo.example", **kw: str) -> Result:
    sim = Simulator.from_snapshot(mesh.snapshot, mesh.gateway())
    return sim.simulate(
        Request(listener=(mesh.ip(GATEWAY), 8080), authority=host, path=path, headers=kw)
    )


def test_without_a_virtual_service_the_default_cluster_and_every_endpoint() -> None:
    mesh = bookinfo()
    result = _call(mesh, "reviews:9080", "/reviews/0")
    assert result.outcome == "cluster"
    assert result.cluster == cluster("reviews")
    assert result.virtual_host == naming.build_virtual_host_name(
        "reviews.default.svc.cluster.local", 9080
    )
    assert {e.address for e in result.endpoints} == {
        mesh.ip("reviews-v1-0"), mesh.ip("reviews-v2-0"), mesh.ip("reviews-v3-0")
    }  # fmt: skip
    assert result.timeout is not None and not result.timeout  # Istio disables the route timeout
    assert result.retry_policy is not None and result.retry_policy.num_retries.value == 2


@pytest.mark.parametrize(
    "host",
    ["reviews:9080", "reviews.default:9080", "reviews.default.svc.cluster.local:9080"],
)
def test_every_name_of_the_service_reaches_its_virtual_host(host: str) -> None:
    assert _call(bookinfo(), host).cluster == cluster("reviews")


def test_all_v1_sends_every_service_to_its_v1_subset() -> None:
    mesh = bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    sim = _sidecar(mesh)
    for service in ("productpage", "reviews", "ratings", "details"):
        result = _call(mesh, f"{service}:9080", sim=sim)
        assert result.cluster == cluster(service, "v1"), service
        assert [e.address for e in result.endpoints] == [mesh.ip(f"{service}-v1-0")]
    assert _call(mesh, "reviews:9080", headers={"end-user": "jason"}, sim=sim).cluster == cluster(
        "reviews", "v1"
    )


@pytest.mark.parametrize(
    ("sample", "others"),
    [
        ("virtual-service-reviews-test-v2.yaml", "v1"),
        ("virtual-service-reviews-jason-v2-v3.yaml", "v3"),
    ],
)
def test_jason_goes_to_v2_and_everyone_else_elsewhere(sample: str, others: str) -> None:
    mesh = bookinfo("destination-rule-all.yaml", sample)
    sim = _sidecar(mesh)
    jason = _call(mesh, "reviews:9080", headers={"end-user": "jason"}, sim=sim)
    assert jason.cluster == cluster("reviews", "v2")
    assert [e.address for e in jason.endpoints] == [mesh.ip("reviews-v2-0")]
    for headers in ({}, {"end-user": "jasonx"}, {"end-user": "Jason"}, {"x-end-user": "jason"}):
        assert _call(mesh, "reviews:9080", headers=headers, sim=sim).cluster == cluster(
            "reviews", others
        ), headers


COOKIE_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        cookie:
          regex: "^(.*?;)?(user=jason)(;.*)?$"
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
"""


@pytest.mark.parametrize(
    ("cookie", "subset"),
    [
        ("user=jason", "v2"),
        ("session=1;user=jason", "v2"),
        ("session=1; user=jason", "v1"),  # the sample regex allows no space after ";"
        ("session=1;user=jason;theme=dark", "v2"),
        ("user=jasonx", "v1"),  # the regex matches the whole value
        ("xuser=jason", "v1"),
        ("", "v1"),
    ],
)
def test_jason_by_cookie_regex(cookie: str, subset: str) -> None:
    mesh = bookinfo("destination-rule-all.yaml", extra=COOKIE_VS)
    headers = {"cookie": cookie} if cookie else {}
    assert _call(mesh, "reviews:9080", headers=headers).cluster == cluster("reviews", subset)


@pytest.mark.parametrize(
    ("sample", "weights"),
    [
        ("virtual-service-reviews-50-v3.yaml", {"v1": 50, "v3": 50}),
        ("virtual-service-reviews-80-20.yaml", {"v1": 80, "v2": 20}),
        ("virtual-service-reviews-90-10.yaml", {"v1": 90, "v2": 10}),
        ("virtual-service-reviews-v2-v3.yaml", {"v2": 50, "v3": 50}),
    ],
)
def test_weighted_subsets(sample: str, weights: dict[str, int]) -> None:
    mesh = bookinfo("destination-rule-all.yaml", sample)
    result = _call(mesh, "reviews:9080")
    assert result.outcome == "weighted_clusters"
    assert dict(result.weighted_clusters) == {cluster("reviews", s): w for s, w in weights.items()}
    picks = {result.pick(v) for v in range(100)}
    assert picks == {cluster("reviews", s) for s in weights}


def test_ratings_faults_only_for_jason() -> None:
    abort = bookinfo("destination-rule-all.yaml", "virtual-service-ratings-test-abort.yaml")
    jason = _call(abort, "ratings:9080", headers={"end-user": "jason"})
    assert jason.status == 500 and jason.cluster == cluster("ratings", "v1")
    others = _call(abort, "ratings:9080")
    assert others.status is None and others.fault is None
    delay = bookinfo("destination-rule-all.yaml", "virtual-service-ratings-test-delay.yaml")
    slow = _call(delay, "ratings:9080", headers={"end-user": "jason"})
    assert slow.fault is not None and slow.fault.delay.fixed_delay.seconds == 7
    assert slow.status is None


def test_gateway_serves_the_bookinfo_paths_and_404s_the_rest() -> None:
    mesh = bookinfo("bookinfo-gateway.yaml")
    for path in (
        "/productpage",
        "/productpage?u=normal",
        "/static/style.css",
        "/login",
        "/logout",
        "/api/v1/products/0",
    ):
        result = _ingress(mesh, path)
        assert result.outcome == "cluster", path
        assert result.cluster == cluster("productpage"), path
        assert result.route_config == "http.8080"
    for path in ("/", "/productpage/x", "/Productpage", "/loginx", "/api/v1/product"):
        result = _ingress(mesh, path)
        assert (result.outcome, result.status) == ("no_route", 404), path
        assert result.virtual_host is not None  # the VS's vhost, but none of its routes


def test_gateway_with_subsets_follows_the_mesh_virtual_services_only_for_sidecars() -> None:
    mesh = bookinfo(
        "bookinfo-gateway.yaml", "destination-rule-all.yaml", "virtual-service-all-v1.yaml"
    )
    # The gateway routes by the bookinfo VS (bound to the gateway), not by the mesh VS.
    assert _ingress(mesh, "/productpage").cluster == cluster("productpage")
    assert _call(mesh, "productpage:9080").cluster == cluster("productpage", "v1")


PRECEDENCE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: everything}
spec:
  hosts: ["*.svc.cluster.local"]
  http:
  - route:
    - destination: {host: details}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: default-namespace}
spec:
  hosts: ["*.default.svc.cluster.local"]
  http:
  - route:
    - destination: {host: ratings}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-exact}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {prefix: /first}
    route:
    - destination: {host: reviews, subset: v1}
  - match:
    - uri: {prefix: /f}
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v3}
"""


def test_host_precedence_exact_then_most_specific_wildcard_and_first_match_wins() -> None:
    mesh = bookinfo("destination-rule-all.yaml", extra=PRECEDENCE)
    sim = _sidecar(mesh)
    assert _call(mesh, "reviews:9080", "/first/page", sim=sim).cluster == cluster("reviews", "v1")
    assert _call(mesh, "reviews:9080", "/firs", sim=sim).cluster == cluster("reviews", "v2")
    assert _call(mesh, "reviews:9080", "/other", sim=sim).cluster == cluster("reviews", "v3")
    # details is in default: the namespace wildcard is more specific than the mesh-wide one.
    assert _call(mesh, "details:9080", sim=sim).cluster == cluster("ratings")
    istiod = _call(mesh, "istio-ingressgateway.istio-system:80", sim=sim)
    assert istiod.cluster == cluster("details")


GATEWAY_HOSTS = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: any}
spec:
  hosts: ["*"]
  gateways: [web]
  http:
  - route:
    - destination: {host: details}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example-wildcard}
spec:
  hosts: ["*.example.com"]
  gateways: [web]
  http:
  - route:
    - destination: {host: ratings}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-wildcard}
spec:
  hosts: ["*.api.example.com"]
  gateways: [web]
  http:
  - route:
    - destination: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: exact}
spec:
  hosts: [www.example.com]
  gateways: [web]
  http:
  - match:
    - uri: {exact: /only}
    route:
    - destination: {host: productpage}
"""


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("www.example.com", "/only", cluster("productpage")),
        ("www.example.com:8080", "/only", cluster("productpage")),  # the port is ignored
        ("WWW.Example.com", "/only", cluster("productpage")),
        ("www.example.com", "/other", None),  # exact host, no route: 404, no fallback
        ("v1.api.example.com", "/", cluster("reviews")),  # the longest wildcard
        ("shop.example.com", "/", cluster("ratings")),
        ("example.com", "/", cluster("details")),
        ("localhost", "/", cluster("details")),
    ],
)
def test_gateway_host_precedence(host: str, path: str, expected: str | None) -> None:
    mesh = bookinfo(extra=GATEWAY_HOSTS)
    result = _ingress(mesh, path, host)
    assert result.cluster == expected
    if expected is None:
        assert result.status == 404


def test_unknown_host_through_the_http_proxy_follows_the_outbound_policy() -> None:
    allow = _call(bookinfo(), "www.example.org", "/search")
    assert (allow.virtual_host, allow.cluster) == (
        naming.ALLOW_ANY_VHOST,
        naming.PASSTHROUGH_CLUSTER,
    )
    # Nothing is captured on the local platform: passthrough is Envoy's dynamic forward proxy.
    passthrough = allow.upstreams[naming.PASSTHROUGH_CLUSTER]
    assert passthrough.discovery_type == "envoy.clusters.dynamic_forward_proxy"
    registry_only = MeshConfig(outbound_traffic_policy=OutboundTrafficPolicy(mode="REGISTRY_ONLY"))
    blocked = _call(bookinfo(mesh=registry_only), "www.example.org", "/search")
    assert blocked.virtual_host == naming.BLOCK_ALL_VHOST
    assert (blocked.outcome, blocked.status) == ("direct_response", 502)
    # a known service on a port it does not have is unknown too
    assert _call(bookinfo(), "reviews:9999").cluster == naming.PASSTHROUGH_CLUSTER


def test_inbound_listener_hands_requests_to_the_app() -> None:
    mesh = bookinfo()
    sim = _sidecar(mesh)
    result = sim.simulate(Request(listener=(mesh.ip(PRODUCTPAGE), 9080), authority="anything"))
    assert result.cluster == naming.build_inbound_cluster(9080)
    assert [(e.address, e.port) for e in result.endpoints] == [(mesh.ip(PRODUCTPAGE), 19080)]


def test_tcp_outbound_listener() -> None:
    mesh = bookinfo()
    result = _sidecar(mesh).simulate(Request(listener=(mesh.ip(PRODUCTPAGE), 443)))
    assert result.outcome == "tcp"
    assert result.cluster == "outbound|443||istio-ingressgateway.istio-system.svc.cluster.local"
    assert [(e.address, e.port) for e in result.endpoints] == [(mesh.ip(GATEWAY), 8443)]
