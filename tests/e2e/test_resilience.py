"""Zero failed requests while subsets appear and disappear, and while the control plane dies."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from mainsail.platform.pod import PodSpec
from mainsail.testing.load import LoadLoop
from mainsail.testing.mesh import LocalMesh
from tests.e2e.conftest import SAMPLES
from tests.e2e.helpers import wait_until


def _all_synced(mesh: LocalMesh, expected: int) -> bool:
    try:
        proxies = mesh.proxy_status()
    except Exception:
        return False
    return len(proxies) == expected and all(
        t.get("state") in ("SYNCED", "NOT_SENT") for p in proxies for t in p["types"].values()
    )


async def _wait_synced(mesh: LocalMesh, timeout: float = 15) -> None:
    # Off the event loop, so the load keeps running while we wait.
    await asyncio.to_thread(
        wait_until, lambda: _all_synced(mesh, len(mesh.pods())), timeout, "every proxy SYNCED"
    )


async def test_new_subsets_make_before_break_under_load(mesh: LocalMesh) -> None:
    productpage = mesh.pod("productpage")
    direct = LoadLoop(
        "http://reviews:9080/reviews/0",
        concurrency=3,
        proxy=f"http://{productpage.ip}:{productpage.proxy_ports.outbound}",
    )
    via_gateway = LoadLoop(mesh.gateway_url(), concurrency=2)
    async with direct, via_gateway:
        await direct.wait_for(50)
        for name in ("destination-rule-all.yaml", "virtual-service-reviews-50-v3.yaml"):
            applied = await asyncio.to_thread(mesh.cli, "apply", "-f", str(SAMPLES / name))
            assert applied.returncode == 0
        await _wait_synced(mesh)
        await direct.wait_for(100)
        for name in ("virtual-service-reviews-50-v3.yaml", "destination-rule-all.yaml"):
            deleted = await asyncio.to_thread(mesh.cli, "delete", "-f", str(SAMPLES / name))
            assert deleted.returncode == 0
        await _wait_synced(mesh)
        await direct.wait_for(100)
    for load in (direct, via_gateway):
        assert load.result.failures == 0, (load.result.statuses, load.result.errors)
        unavailable = sum(n for body, n in load.result.bodies.items() if "unavailable" in body)
        assert unavailable == 0
    assert direct.result.total >= 250


# Egress to details only: productpage's own Service is out of its scope.
_SCOPE = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage-egress-only}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress: [{hosts: ["./details.default.svc.cluster.local"]}]
"""


def _draining(mesh: LocalMesh, pod: PodSpec) -> int:
    stats = mesh.admin(pod, "/stats?filter=listener_manager.total_")
    return sum(
        int(line.rsplit(":", 1)[1])
        for line in stats.splitlines()
        if line.split(":")[0].endswith(("_draining", "filter_chains_draining"))
    )


def _last_updated(mesh: LocalMesh, pod: PodSpec, name: str) -> str:
    dump = mesh.admin(pod, "/config_dump?resource=dynamic_listeners")
    return next(
        str(c["active_state"]["last_updated"]) for c in dump["configs"] if c["name"] == name
    )


async def test_a_sidecar_egress_scope_leaves_inbound_connections_alone(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    """Applying and removing a Sidecar whose egress leaves out the workload's own Service
    touches no inbound listener (istiod builds those from the workload's Services): the
    gateway's kept-alive connections to productpage live on. When the inbound HCM flipped to a
    tcp_proxy and back, Envoy drained the old chain and cut those connections mid-request at
    the end of the drain (503 UC at the gateway)."""
    productpage = mesh.pod("productpage")
    inbound = f"{productpage.ip}_9080"
    updated = _last_updated(mesh, productpage, inbound)
    scope = tmp_path / "scope.yaml"
    scope.write_text(_SCOPE, encoding="utf-8")
    async with LoadLoop(mesh.gateway_url(), concurrency=2) as load:
        await load.wait_for(30)
        try:
            applied = await asyncio.to_thread(mesh.cli, "apply", "-f", str(scope))
            assert applied.returncode == 0, applied.stderr
            await _wait_synced(mesh)
            await load.wait_for(30)
        finally:
            deleted = await asyncio.to_thread(mesh.cli, "delete", "-f", str(scope))
        assert deleted.returncode == 0, deleted.stderr
        await _wait_synced(mesh)
        # Past the end of any drain, when Envoy closes what is left on a drained chain.
        await asyncio.to_thread(
            wait_until, lambda: _draining(mesh, productpage) == 0, 30, "no listener draining"
        )
        await load.wait_for(30)
    assert load.result.failures == 0, (load.result.statuses, load.result.errors)
    assert _last_updated(mesh, productpage, inbound) == updated


async def test_kill_9_of_the_control_plane_fails_no_request(mesh: LocalMesh) -> None:
    before = mesh.control_plane_pid()
    async with LoadLoop(mesh.gateway_url(), concurrency=3) as load:
        await load.wait_for(30)
        os.kill(before, signal.SIGKILL)
        await load.wait_for(60)
        await asyncio.to_thread(
            wait_until,
            lambda: mesh.control_plane_pid() not in (0, before),
            30,
            "control plane restarted",
        )
        await _wait_synced(mesh, 30)
        await load.wait_for(30)
    assert load.result.failures == 0, (load.result.statuses, load.result.errors)
    unavailable = sum(n for body, n in load.result.bodies.items() if "unavailable" in body)
    assert unavailable == 0
