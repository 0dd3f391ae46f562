"""Circuit breaking: a DestinationRule connection pool of one, and more concurrent requests than it
holds, as in the book's fortio example: the overflow is answered 503 by the client's sidecar."""

from __future__ import annotations

from tests.e2e_traffic.helpers import Traffic, cluster_name, count

ONE_CONNECTION = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
"""


async def test_concurrent_load_trips_the_breaker_with_uo_503s(traffic: Traffic) -> None:
    await traffic.apply(ONE_CONNECTION)
    echo = cluster_name("echo")
    before = traffic.cluster_stat(echo, "upstream_rq_pending_overflow")
    replies = await traffic.many("http://echo:8080/?delay=0.2", 20, concurrency=20)
    tripped = [r for r in replies if r.status == 503]
    assert tripped and count(replies, 200) + len(tripped) == 20
    assert count(replies, 200) >= 1
    # Envoy marks what it refused itself (response flag UO) for the app to see.
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in tripped), tripped[0]
    assert all(
        r.body == "upstream connect error or disconnect/reset before headers. "
        "reset reason: overflow"
        for r in tripped
    ), tripped[0].body
    overflowed = traffic.cluster_stat(echo, "upstream_rq_pending_overflow") - before
    assert overflowed == len(tripped)
    # Requests one at a time fit the pool: the breaker only trips under concurrency.
    for _ in range(5):
        assert (await traffic.get("http://echo:8080/")).status == 200
