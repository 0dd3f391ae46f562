"""Fault injection on echo: aborts at a percentage, delays, and a gRPC status abort."""

from __future__ import annotations

import time

from tests.e2e_traffic.helpers import Traffic, count, within_binomial


def _fault(fault: str, match: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo}}
spec:
  hosts: [echo]
  http:
  - {match}fault: {fault}
    route: [{{destination: {{host: echo}}}}]
  - route: [{{destination: {{host: echo}}}}]
"""


async def test_abort_percentage_answers_that_share_with_the_status(traffic: Traffic) -> None:
    await traffic.apply(_fault("{abort: {httpStatus: 418, percentage: {value: 30}}}"))
    n = 400
    replies = await traffic.many("http://echo:8080/", n)
    aborted = [r for r in replies if r.status == 418]
    assert aborted and aborted[0].body == "fault filter abort"
    assert count(replies, 200) + len(aborted) == n
    assert within_binomial(len(aborted), n, 0.3), len(aborted)
    assert all(r.version in ("v1", "v2", "v3") for r in replies if r.status == 200)


async def test_delay_holds_matching_requests_only(traffic: Traffic) -> None:
    await traffic.apply(
        _fault(
            "{delay: {fixedDelay: 0.6s, percentage: {value: 100}}}",
            match="match: [{headers: {end-user: {exact: jason}}}]\n    ",
        )
    )
    started = time.monotonic()
    slow = await traffic.get("http://echo:8080/", headers={"end-user": "jason"})
    slow_took = time.monotonic() - started
    started = time.monotonic()
    fast = await traffic.get("http://echo:8080/", headers={"end-user": "paul"})
    fast_took = time.monotonic() - started
    assert slow.status == fast.status == 200
    # Envoy's timers tick in whole milliseconds: a 0.6 s delay can measure a hair under 0.6 s here.
    assert slow_took >= 0.59 and fast_took < 0.5, (slow_took, fast_took)


async def test_grpc_status_abort_answers_grpc_clients_with_that_status(traffic: Traffic) -> None:
    await traffic.apply(_fault("{abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}"))
    reply = await traffic.get(
        "http://echo:8080/echo.Echo/Say",
        method="POST",
        headers={"content-type": "application/grpc", "te": "trailers"},
    )
    assert reply.status == 200, reply  # gRPC carries its status in grpc-status, not HTTP's
    assert reply.headers.get("grpc-status") == "14", reply.headers
    assert reply.headers.get("grpc-message") == "fault filter abort", reply.headers
