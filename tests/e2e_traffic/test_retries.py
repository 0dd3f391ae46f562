"""Retries: a VirtualService's ``retries``, ``attempts: 0``, and Istio's default retry policy.

``unstable`` has two endpoints, one of which answers every request with 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mainsail.samples.echo import EchoServer, EchoSettings
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from tests.e2e_traffic.helpers import Traffic, cluster_name, count

UNSTABLE = "http://unstable:8080/"


def _retries(retries: str, host: str = "unstable") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host.split(".")[0]}}}
spec:
  hosts: [{host}]
  http:
  - route: [{{destination: {{host: {host}}}}}]
    retries: {retries}
"""


async def test_retries_on_5xx_hide_the_failing_endpoint(traffic: Traffic) -> None:
    await traffic.apply(_retries("{attempts: 3, retryOn: 5xx}"))
    before = traffic.cluster_stat(cluster_name("unstable"), "upstream_rq_retry")
    replies = await traffic.many(UNSTABLE, 100)
    assert count(replies, 200) == 100, [r.status for r in replies]
    assert {r.json()["version"] for r in replies} == {"good"}
    # The failures happened and were retried, on another endpoint, inside the client's sidecar.
    retried = [r for r in replies if r.json()["headers"]["x-envoy-attempt-count"] != "1"]
    assert retried
    assert traffic.cluster_stat(cluster_name("unstable"), "upstream_rq_retry") - before >= len(
        retried
    )


async def test_zero_attempts_let_the_failures_through(traffic: Traffic) -> None:
    await traffic.apply(_retries("{attempts: 0}"))
    replies = await traffic.many(UNSTABLE, 60)
    assert count(replies, 503) > 0 and count(replies, 200) > 0
    assert count(replies, 503) + count(replies, 200) == 60
    assert all(r.json()["headers"]["x-envoy-attempt-count"] == "1" for r in replies)


async def test_default_policy_does_not_retry_503(traffic: Traffic) -> None:
    # Istio >= 1.24: the default policy retries connection failures, not an answered 503.
    replies = await traffic.many(UNSTABLE, 60)
    assert count(replies, 503) > 0 and count(replies, 200) > 0
    assert count(replies, 503) + count(replies, 200) == 60


@pytest.fixture
async def half_dead_service() -> AsyncIterator[str]:
    """A ServiceEntry's worth of endpoints outside the mesh: a live echo and a refused port."""
    live = EchoSettings(host=random_loopback_address(), port=0, version="outside")
    dead = random_loopback_address()
    async with EchoServer(live) as server:
        yield f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: halfdead}}
spec:
  hosts: [halfdead.example.internal]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP, targetPort: {server.port}}}]
  endpoints:
  - {{address: {live.host}}}
  - {{address: {dead}, ports: {{http: {free_port(dead)}}}}}
"""


async def test_default_policy_retries_connect_failures(
    traffic: Traffic, half_dead_service: str
) -> None:
    url = "http://halfdead.example.internal:8080/"
    await traffic.apply(half_dead_service)
    # One at a time: with requests in flight on the live endpoint, the default least-request
    # balancer prefers the idle dead one, and may pick it for all five reselections of a retry.
    replies = await traffic.many(url, 40, concurrency=1)
    assert count(replies, 200) == 40, [(r.status, r.body) for r in replies if r.status != 200]
    assert {r.version for r in replies} == {"outside"}
    # The same endpoints without retries: the refused connections reach the client.
    await traffic.apply(_retries("{attempts: 0}", host="halfdead.example.internal"))
    replies = await traffic.many(url, 40, concurrency=1)
    refused = [r for r in replies if r.status == 503]
    assert refused and count(replies, 200) + len(refused) == 40
    assert "connection failure" in refused[0].body, refused[0].body
