"""``mirrors[]`` with two targets and their own percentages, with real Envoys: subset ``a``
answers; subset ``b`` gets a copy of every request, ``shadow`` of about half (binomial bounds);
the client only ever sees ``a``."""

from __future__ import annotations

from mainsail.testing.waiting import wait_for
from tests.e2e_more.helpers import within_binomial
from tests.e2e_traffic.helpers import Traffic, cluster_name

MIRRORS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: lb}
spec:
  host: lb
  subsets:
  - {name: a, labels: {version: a}}
  - {name: b, labels: {version: b}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: lb}
spec:
  hosts: [lb]
  http:
  - route: [{destination: {host: lb, subset: a}}]
    mirrors:
    - {destination: {host: lb, subset: b}, percentage: {value: 100}}
    - {destination: {host: shadow}, percentage: {value: 50}}
"""


async def test_two_mirrors_with_percentages(traffic: Traffic) -> None:
    await traffic.apply(MIRRORS)
    clusters = {
        "a": cluster_name("lb", "a"),
        "b": cluster_name("lb", "b"),
        "shadow": cluster_name("shadow"),
    }

    def totals() -> dict[str, int]:
        return {k: traffic.cluster_stat(c, "upstream_rq_total") for k, c in clusters.items()}

    before = totals()
    n = 200
    replies = await traffic.many("http://lb:8080/mirrored", n)
    assert {(r.status, r.version) for r in replies} == {(200, "a")}

    def mirrored() -> dict[str, int]:
        now = totals()
        done = {k: now[k] - before[k] for k in now}
        return done if done["a"] == n and done["b"] == n else {}

    done = await wait_for(mirrored, timeout=5, message=f"{n} requests sent to a and b")
    assert within_binomial(done["shadow"], n, 0.5), done
