"""Sidecar ``inboundConnectionPool`` (Istio 1.21+) on real Envoy: the server's sidecar limits the
connections to its own app, so concurrent load overflows at the *inbound* cluster of echo v3."""

from __future__ import annotations

import asyncio
from typing import Any

from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Traffic, count

TO_V3 = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets: [{name: v3, labels: {version: v3}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http: [{route: [{destination: {host: echo, subset: v3}}]}]
"""
POOL = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: echo-v3}
spec:
  workloadSelector: {labels: {app: echo, version: v3}}
  inboundConnectionPool:
    tcp: {maxConnections: 1}
    http: {http1MaxPendingRequests: 1}
"""
INBOUND = "inbound|8080||"
UNLIMITED = 2**32 - 1


def _inbound_max_connections(traffic: Traffic) -> int:
    dump: Any = traffic.mesh.admin(traffic.mesh.pod("echo-v3"), "/config_dump")
    for config in dump["configs"]:
        for item in config.get("dynamic_active_clusters", []) + config.get("static_clusters", []):
            cluster = item["cluster"]
            if cluster["name"] == INBOUND:
                threshold = cluster.get("circuit_breakers", {}).get("thresholds", [{}])[0]
                return int(threshold.get("max_connections", 1024))
    return -1


async def test_inbound_connection_pool_overflows_at_the_server_sidecar(traffic: Traffic) -> None:
    await traffic.apply(TO_V3)
    await asyncio.to_thread(traffic.api.apply, POOL, "test")
    try:
        await wait_for(
            lambda: _inbound_max_connections(traffic) == 1,
            timeout=15,
            message="echo v3's sidecar holds the inbound pool",
        )
        v3 = traffic.mesh.pod("echo-v3")
        stat = f"cluster.{INBOUND}.upstream_rq_pending_overflow"
        before = traffic.stats(v3, f"^{stat.replace('|', '[|]')}$").get(stat, 0)
        replies = await traffic.many("http://echo:8080/?delay=0.3", 20, concurrency=20)
        overflowed = traffic.stats(v3, f"^{stat.replace('|', '[|]')}$").get(stat, 0) - before
        # The server's sidecar refused what its pool of one could not hold; the client saw 503s
        # (some of them retried by Istio's default retry policy, so not one per overflow).
        assert overflowed > 0
        assert count(replies, 503) > 0 and count(replies, 200) >= 1
        assert count(replies, 200) + count(replies, 503) == 20
    finally:
        await asyncio.to_thread(traffic.api.delete_keys, [("Sidecar", "default", "echo-v3")])
        await wait_for(
            lambda: _inbound_max_connections(traffic) == UNLIMITED,
            timeout=15,
            message="echo v3's sidecar back to unlimited inbound",
        )
