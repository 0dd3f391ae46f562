"""The acceptance case: one of three endpoints answers 503 to half of its requests. With outlier
detection and retries the client sees at least 99.9 % success over 2000 requests, and the bad
endpoint is ejected - in Envoy's stats and in ``mainsail proxy-config endpoint``."""

from __future__ import annotations

import asyncio

from tests.e2e_traffic.helpers import Traffic, cluster_name, count

RESILIENT = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky}
spec:
  host: flaky
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 50
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky}
spec:
  hosts: [flaky]
  http:
  - route: [{destination: {host: flaky}}]
    retries: {attempts: 3, retryOn: 5xx}
"""


def _endpoint_table(traffic: Traffic) -> list[list[str]]:
    result = traffic.mesh.cli("proxy-config", "endpoint", traffic.client.name)
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()]


async def test_flaky_endpoint_is_ejected_and_clients_see_999_success(traffic: Traffic) -> None:
    await traffic.apply(RESILIENT)
    flaky = cluster_name("flaky")
    bad = traffic.mesh.pod("flaky-bad")
    n = 2000
    replies = await traffic.many("http://flaky:8080/", n, concurrency=50)
    assert count(replies, 200) >= 0.999 * n, {r.status for r in replies}
    assert {r.version for r in replies if r.status == 200} <= {"good", "bad"}

    assert traffic.cluster_stat(flaky, "outlier_detection.ejections_enforced_total") >= 1
    assert traffic.cluster_stat(flaky, "outlier_detection.ejections_active") == 1
    rows = await asyncio.to_thread(_endpoint_table, traffic)
    assert rows[0] == ["ENDPOINT", "STATUS", "OUTLIER", "CHECK", "CLUSTER"]
    flaky_rows = {row[0]: row for row in rows[1:] if row[-1] == flaky}
    assert len(flaky_rows) == 3
    for address, row in flaky_rows.items():
        ejected = address == f"{bad.ip}:8080"
        assert row[1:3] == (["UNHEALTHY", "FAILED"] if ejected else ["HEALTHY", "OK"]), row
