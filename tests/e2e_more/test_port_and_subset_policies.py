"""DestinationRule ``portLevelSettings`` and subset ``trafficPolicy`` with real Envoys: a
connection pool of one applies only to the port or subset it is set on — concurrent load trips
the breaker (503 with ``x-envoy-overloaded``, Envoy's ``UO``) there and nowhere else."""

from __future__ import annotations

from tests.e2e_traffic.helpers import Reply, Traffic, cluster_name, count

POOL_OF_ONE = """
      connectionPool:
        tcp: {maxConnections: 1}
        http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}"""

PORT_LEVEL = f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: lb}}
spec:
  host: lb
  trafficPolicy:
    portLevelSettings:
    - port: {{number: 9090}}{POOL_OF_ONE}
"""

SUBSET_LEVEL = f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: lb}}
spec:
  host: lb
  subsets:
  - name: a
    labels: {{version: a}}
    trafficPolicy:{POOL_OF_ONE}
  - name: b
    labels: {{version: b}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: lb}}
spec:
  hosts: [lb]
  http:
  - match: [{{headers: {{x-subset: {{exact: a}}}}}}]
    route: [{{destination: {{host: lb, subset: a}}}}]
  - route: [{{destination: {{host: lb, subset: b}}}}]
"""


def _overflowed(replies: list[Reply]) -> list[Reply]:
    tripped = [r for r in replies if r.status == 503]
    assert count(replies, 200) + len(tripped) == len(replies), replies[:3]
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in tripped), tripped[:1]
    return tripped


async def _burst(traffic: Traffic, url: str, **options: object) -> list[Reply]:
    """20 concurrent requests that each hold their connection for 0.2 s."""
    return await traffic.many(f"{url}?delay=0.2", 20, concurrency=20, **options)  # type: ignore[arg-type]


async def test_port_level_connection_pool_trips_only_on_its_port(traffic: Traffic) -> None:
    await traffic.apply(PORT_LEVEL)
    limited, free = cluster_name("lb", port=9090), cluster_name("lb", port=8080)
    before = {c: traffic.cluster_stat(c, "upstream_rq_pending_overflow") for c in (limited, free)}
    tripped = _overflowed(await _burst(traffic, "http://lb:9090/"))
    assert tripped
    assert _overflowed(await _burst(traffic, "http://lb:8080/")) == []
    after = {c: traffic.cluster_stat(c, "upstream_rq_pending_overflow") for c in (limited, free)}
    assert after[limited] - before[limited] == len(tripped)
    assert after[free] == before[free]


async def test_subset_connection_pool_trips_only_in_its_subset(traffic: Traffic) -> None:
    await traffic.apply(SUBSET_LEVEL)
    in_a = await _burst(traffic, "http://lb:8080/", headers={"x-subset": "a"})
    tripped = _overflowed(in_a)
    assert tripped
    assert {r.version for r in in_a if r.status == 200} == {"a"}
    in_b = await _burst(traffic, "http://lb:8080/")
    assert _overflowed(in_b) == []
    assert {r.version for r in in_b} == {"b"}
    overflow = traffic.cluster_stat(cluster_name("lb", "a"), "upstream_rq_pending_overflow")
    assert overflow >= len(tripped)
    assert traffic.cluster_stat(cluster_name("lb", "b"), "upstream_rq_pending_overflow") == 0
