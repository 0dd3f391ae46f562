"""Request timeouts: a VirtualService ``timeout`` answers 504; without one, a request may take as
long as the app does (Istio disables Envoy's 15 s route default).

This module runs last: ``patient_request`` was sent when the mesh came up.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future

from tests.e2e_traffic.conftest import PATIENT_DELAY
from tests.e2e_traffic.helpers import Traffic

TIMEOUT = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - route: [{destination: {host: echo}}]
    timeout: 0.5s
"""


async def test_timeout_answers_504_upstream_request_timeout(traffic: Traffic) -> None:
    await traffic.apply(TIMEOUT)
    started = time.monotonic()
    reply = await traffic.get("http://echo:8080/?delay=3")
    took = time.monotonic() - started
    assert (reply.status, reply.body) == (504, "upstream request timeout")
    assert took < 2.5, took  # the 0.5 s timeout, not the 3 s the app takes
    quick = await traffic.get("http://echo:8080/?delay=0.1")
    assert quick.status == 200


async def test_without_timeout_a_request_waits_as_long_as_the_app(
    patient_request: Future[tuple[int, float]],
) -> None:
    status, took = await asyncio.wrap_future(patient_request)
    assert status == 200
    assert took >= PATIENT_DELAY > 15
