"""Mirroring: v1 answers, v2 receives a copy of every request (Host with ``-shadow``), and the
client never sees v2's answers."""

from __future__ import annotations

import json
import uuid

from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Traffic, cluster_name

MIRROR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - route: [{destination: {host: echo, subset: v1}, weight: 100}]
    mirror: {host: echo, subset: v2}
    mirrorPercentage: {value: 100.0}
"""


async def test_mirror_receives_every_request_and_the_client_sees_only_v1(traffic: Traffic) -> None:
    await traffic.apply(MIRROR)
    v2_log = (
        traffic.mesh.home.root / "logs" / f"default.{traffic.mesh.pod('echo-v2').name}.echo.log"
    )
    v2_cluster = cluster_name("echo", "v2")
    before = traffic.cluster_stat(v2_cluster, "upstream_rq_total")
    run = uuid.uuid4().hex
    n = 30
    replies = await traffic.many(f"http://echo:8080/mirrored/{run}", n)
    assert {(r.status, r.version) for r in replies} == {(200, "v1")}

    def mirrored() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in v2_log.read_text().splitlines() if run in line]
        return lines if len(lines) >= n else []

    seen = await wait_for(mirrored, timeout=5, message=f"{n} mirrored requests in v2's log")
    assert len(seen) == n
    assert {line["headers"]["host"] for line in seen} == {"echo-shadow:8080"}  # type: ignore[index]
    assert traffic.cluster_stat(v2_cluster, "upstream_rq_total") - before == n
