"""DestinationRule ``loadBalancer.simple`` with real Envoys, over the three echo pods of ``lb``:
ROUND_ROBIN spreads evenly, RANDOM reaches every pod, and without a rule Istio's default is
LEAST_REQUEST (as LEAST_CONN, its older name, is)."""

from __future__ import annotations

import pytest

from tests.e2e_more.helpers import lb_policy, pods, within_binomial
from tests.e2e_traffic.helpers import Traffic, cluster_name

LB = cluster_name("lb")
PODS = 3


def _simple(policy: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: lb}}
spec:
  host: lb
  trafficPolicy: {{loadBalancer: {{simple: {policy}}}}}
"""


async def test_round_robin_spreads_evenly_over_three_endpoints(traffic: Traffic) -> None:
    await traffic.apply(_simple("ROUND_ROBIN"))
    assert lb_policy(traffic, LB) == "ROUND_ROBIN"
    n = 300
    seen = await pods(traffic, "http://lb:8080/", n)
    assert len(seen) == PODS, seen
    # Each pod's share is at least as even as independent draws would make it.
    assert all(within_binomial(count, n, 1 / PODS) for count in seen.values()), seen


async def test_random_reaches_every_endpoint(traffic: Traffic) -> None:
    await traffic.apply(_simple("RANDOM"))
    assert lb_policy(traffic, LB) == "RANDOM"
    n = 90  # a pod missed by all 90 draws: p = 3 * (2/3)^90 < 1e-15
    seen = await pods(traffic, "http://lb:8080/", n)
    assert len(seen) == PODS, seen
    assert all(within_binomial(count, n, 1 / PODS) for count in seen.values()), seen


async def test_least_request_is_the_default(traffic: Traffic) -> None:
    assert lb_policy(traffic, LB) == "LEAST_REQUEST"  # no DestinationRule
    assert len(await pods(traffic, "http://lb:8080/", 90)) == PODS


@pytest.mark.parametrize("policy", ["LEAST_REQUEST", "LEAST_CONN"])
async def test_least_request_by_name(traffic: Traffic, policy: str) -> None:
    await traffic.apply(_simple(policy))
    assert lb_policy(traffic, LB) == "LEAST_REQUEST"
    assert len(await pods(traffic, "http://lb:8080/", 90)) == PODS
