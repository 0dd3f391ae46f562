"""VirtualService ``exportTo: ["."]`` with real Envoys: a rule in namespace ``default`` shapes the
traffic of ``default``'s client and not that of ``outsider`` in namespace ``other``."""

from __future__ import annotations

from tests.e2e_traffic.helpers import Traffic

LOCAL_ONLY = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: lb, namespace: default}
spec:
  host: lb.default.svc.cluster.local
  subsets:
  - {name: b, labels: {version: b}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: lb-local, namespace: default}
spec:
  hosts: [lb.default.svc.cluster.local]
  exportTo: ["."]
  http:
  - route: [{destination: {host: lb.default.svc.cluster.local, subset: b}}]
    headers: {response: {set: {x-rule: lb-local}}}
"""
URL = "http://lb.default.svc.cluster.local:8080/"


async def test_vs_exported_to_its_namespace_only(traffic: Traffic) -> None:
    outsider = Traffic(mesh=traffic.mesh, api=traffic.api, client=traffic.mesh.pod("outsider"))
    outsider.http = traffic.http
    await traffic.apply(LOCAL_ONLY)
    # Namespace default: every request follows the rule.
    replies = await traffic.many(URL, 30)
    assert {(r.status, r.version, r.headers.get("x-rule")) for r in replies} == {
        (200, "b", "lb-local")
    }
    # Namespace other: the rule does not exist; all three pods answer, none with the header.
    replies = await outsider.many(URL, 30)
    assert {(r.status, r.headers.get("x-rule")) for r in replies} == {(200, None)}
    assert {r.version for r in replies} == {"a", "b"}  # 30 draws, 2 of 3 pods are a: p < 1e-5
    assert "lb-local" not in str(outsider.client_config())
