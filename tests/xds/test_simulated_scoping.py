"""Sidecar scoping, delegation and workload-selected DestinationRules on BookInfo, read from
generated config through the traffic simulator (productpage's HTTP proxy)."""

from __future__ import annotations

from collections.abc import Mapping

from mainsail import naming
from mainsail.testing.simulator import Request, Result, Simulator

from ..testing.bookinfo_mesh import HTTP_PROXY_PORT, BookInfo, bookinfo, cluster

PRODUCTPAGE = "productpage-v1-0"

SCOPED = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage, namespace: default}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress: [{hosts: ["./reviews.default.svc.cluster.local", "istio-system/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""


def _call(
    mesh: BookInfo, host: str, path: str = "/", headers: Mapping[str, str] | None = None
) -> Result:
    sim = Simulator.from_snapshot(mesh.snapshot, mesh.productpage())
    listener = (mesh.ip(PRODUCTPAGE), HTTP_PROXY_PORT)
    return sim.simulate(
        Request(listener=listener, authority=host, path=path, headers=headers or {})
    )


def test_scoped_proxy_reaches_imported_services_only_and_blocks_the_rest() -> None:
    mesh = bookinfo(extra=SCOPED)
    assert _call(mesh, "reviews:9080").cluster == cluster("reviews")
    blocked = _call(mesh, "ratings:9080")
    assert blocked.virtual_host == naming.BLOCK_ALL_VHOST
    assert (blocked.outcome, blocked.status) == ("direct_response", 502)


def test_sidecar_allow_any_overrides_a_registry_only_mesh_per_workload() -> None:
    allow = SCOPED.replace("REGISTRY_ONLY", "ALLOW_ANY")
    result = _call(bookinfo(extra=allow), "ratings:9080")
    assert (result.virtual_host, result.cluster) == (
        naming.ALLOW_ANY_VHOST,
        naming.PASSTHROUGH_CLUSTER,
    )


def test_a_sidecar_for_other_workloads_leaves_productpage_alone() -> None:
    other = SCOPED.replace("app: productpage", "app: reviews")
    assert _call(bookinfo(extra=other), "ratings:9080").cluster == cluster("ratings")


DELEGATE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    delegate: {name: reviews-jason}
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-jason}
spec:
  http:
  - match: [{uri: {prefix: /reviews/1}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v2}}]
"""


def test_delegate_routes_apply_under_the_root_match() -> None:
    mesh = bookinfo("destination-rule-all.yaml", extra=DELEGATE)
    jason = {"end-user": "jason"}
    assert _call(mesh, "reviews:9080", "/reviews/1", jason).cluster == cluster("reviews", "v3")
    assert _call(mesh, "reviews:9080", "/reviews/2", jason).cluster == cluster("reviews", "v2")
    assert _call(mesh, "reviews:9080", "/reviews/1").cluster == cluster("reviews", "v1")


SELECTED_RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-for-productpage}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: productpage}}
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  subsets: [{name: v1, labels: {version: v1}}]
"""


def test_workload_selected_destination_rule_shapes_the_selected_proxy() -> None:
    mesh = bookinfo(extra=SELECTED_RULE)
    result = _call(mesh, "reviews:9080")
    assert result.route is not None
    assert [p.header.header_name for p in result.route.route.hash_policy] == ["x-user"]
    other = SELECTED_RULE.replace("app: productpage", "app: nobody")
    result = _call(bookinfo(extra=other), "reviews:9080")
    assert result.route is not None and not result.route.route.hash_policy
