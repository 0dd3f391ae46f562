"""Istio's request-routing and traffic-shifting tasks on echo v1/v2/v3, through a client sidecar."""

from __future__ import annotations

from typing import Any

import pytest

from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Traffic, within_binomial

SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"""

MATCHES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - name: tester-cookie
    match: [{headers: {cookie: {regex: "^(.*?; ?)?(user=tester)(;.*)?$"}}}]
    route: [{destination: {host: echo, subset: v3}}]
  - name: api-v2
    match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: echo, subset: v2}}]
  - name: items
    match: [{uri: {regex: "/items/[0-9]+"}}]
    route: [{destination: {host: echo, subset: v3}}]
  - name: canary
    match: [{queryParams: {canary: {exact: "yes"}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - name: writes
    match: [{method: {exact: POST}}]
    route: [{destination: {host: echo, subset: v3}}]
  - route: [{destination: {host: echo, subset: v1}}]
"""

# (what, request, version expected, a near miss that falls through to v1)
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "header",
        {"url": "/", "headers": {"end-user": "jason"}},
        "v2",
        {"url": "/", "headers": {"end-user": "jasonx"}},
    ),
    (
        "cookie",
        {"url": "/", "headers": {"cookie": "session=1; user=tester; theme=dark"}},
        "v3",
        {"url": "/", "headers": {"cookie": "user=testers"}},
    ),
    ("uri prefix", {"url": "/api/v2/books"}, "v2", {"url": "/api/v1/books"}),
    ("uri regex", {"url": "/items/42"}, "v3", {"url": "/items/forty-two"}),
    ("query param", {"url": "/q?canary=yes"}, "v2", {"url": "/q?canary=no"}),
    ("method", {"url": "/w", "method": "POST"}, "v3", {"url": "/w", "method": "PUT"}),
]


@pytest.mark.parametrize(
    ("request_", "expected", "near_miss"),
    [pytest.param(r, e, m, id=what) for what, r, e, m in CASES],
)
async def test_match_routes_to_its_subset_and_a_near_miss_to_the_default(
    traffic: Traffic, request_: dict[str, Any], expected: str, near_miss: dict[str, Any]
) -> None:
    await traffic.apply(SUBSETS + "---" + MATCHES)

    async def send(spec: dict[str, Any]) -> str:
        spec = dict(spec)
        reply = await traffic.get(f"http://echo:8080{spec.pop('url')}", **spec)
        assert reply.status == 200, reply
        return reply.version

    for _ in range(5):  # every time, not by luck of the load balancer
        assert await send(request_) == expected
        assert await send(near_miss) == "v1"
    assert await traffic.versions("http://echo:8080/", 10) == {"v1": 10}


def _weights(v1: int, v2: int) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo}}
spec:
  hosts: [echo]
  http:
  - route:
    - {{destination: {{host: echo, subset: v1}}, weight: {v1}}}
    - {{destination: {{host: echo, subset: v2}}, weight: {v2}}}
"""


def _holds_weights(traffic: Traffic, v1: int, v2: int) -> bool:
    """The client's route for echo splits ``v1``/``v2`` (a zero-weight side may be left out)."""
    config = traffic.client_config()
    for key, route_config in config.items():
        if not key.startswith("route/"):
            continue
        for vhost in route_config.get("virtual_hosts", []):
            if "echo:8080" not in vhost.get("domains", []):
                continue
            action = vhost["routes"][0]["route"]
            if "weighted_clusters" in action:
                found = {
                    c["name"].split("|")[2]: c.get("weight", 0)
                    for c in action["weighted_clusters"]["clusters"]
                }
            else:
                found = {action["cluster"].split("|")[2]: 100}
            wanted = {k: w for k, w in (("v1", v1), ("v2", v2)) if w}
            return {k: w for k, w in found.items() if w} == wanted
    return False


async def _shift(traffic: Traffic, v1: int, v2: int) -> None:
    await traffic.apply(_weights(v1, v2))
    await wait_for(lambda: _holds_weights(traffic, v1, v2), message=f"{v1}/{v2} pushed")


async def test_traffic_shifting_100_80_50_0_within_binomial_bounds(traffic: Traffic) -> None:
    url = "http://echo:8080/"
    await traffic.apply(SUBSETS)
    await _shift(traffic, 100, 0)
    assert await traffic.versions(url, 100) == {"v1": 100}
    n = 300
    for v1, v2 in ((80, 20), (50, 50)):
        await _shift(traffic, v1, v2)
        seen = await traffic.versions(url, n)
        assert set(seen) == {"v1", "v2"}, seen
        assert within_binomial(seen["v2"], n, v2 / 100), (v1, v2, seen)
    await _shift(traffic, 0, 100)
    assert await traffic.versions(url, 100) == {"v2": 100}
