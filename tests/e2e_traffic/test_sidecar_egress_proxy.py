"""Sidecar ``outboundTrafficPolicy.egressProxy`` on real Envoy: under ALLOW_ANY a request for a host
no service declares goes to the egress proxy's service (echo here) instead of passing through."""

from __future__ import annotations

import asyncio
import json

from mainsail import naming
from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Traffic

ECHO = "echo.default.svc.cluster.local"
EGRESS_PROXY = f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client-egress}}
spec:
  workloadSelector: {{labels: {{app: client}}}}
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {{host: {ECHO}, port: {{number: 8080}}}}
"""


def _allow_any_cluster(traffic: Traffic) -> str:
    route = traffic.client_config().get(f"route/{naming.HTTP_PROXY_ROUTE}", {})
    for vhost in route.get("virtual_hosts", []):
        if vhost.get("name") == naming.ALLOW_ANY_VHOST:
            return str(vhost["routes"][0]["route"]["cluster"])
    return ""


async def test_unknown_hosts_go_to_the_egress_proxy(traffic: Traffic) -> None:
    await asyncio.to_thread(traffic.api.apply, EGRESS_PROXY, "test")
    try:
        echo_cluster = naming.build_outbound_cluster(8080, ECHO)
        await wait_for(
            lambda: _allow_any_cluster(traffic) == echo_cluster,
            timeout=15,
            message="the client's allow_any vhost routes to the egress proxy",
        )
        reply = await traffic.get("http://nowhere.example.test/probe")
        # echo answered (it reports its version and the request it saw), not a passthrough.
        assert reply.status == 200, reply.body
        assert reply.version in ("v1", "v2", "v3"), reply.body
        assert "nowhere.example.test" in json.dumps(reply.json())
    finally:
        await asyncio.to_thread(traffic.api.delete_keys, [("Sidecar", "default", "client-egress")])
        await wait_for(
            lambda: _allow_any_cluster(traffic) == naming.PASSTHROUGH_CLUSTER,
            timeout=15,
            message="the client's allow_any vhost back to the passthrough cluster",
        )
