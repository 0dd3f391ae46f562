"""The bootstrap's static listeners and the readiness rule, on a real Envoy.

CDS and LDS come from files here (no control plane needed): once Envoy has accepted one of each,
``EnvoyAdmin.is_ready`` turns true, and Envoy's health listener forwards to the agent's status
server through the ``agent`` cluster.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from mainsail.agent import BootstrapOptions, ProxyPorts, ProxyWorkload, build_bootstrap
from mainsail.agent.admin import EnvoyAdmin
from mainsail.agent.envoy_process import default_envoy_binary
from mainsail.agent.status_server import StatusServer
from mainsail.testing.loopback import free_tcp_ports, random_loopback_address
from mainsail.testing.waiting import wait_for

EMPTY = {"version_info": "1", "resources": []}


@pytest.fixture
async def envoy(tmp_path: Path) -> AsyncIterator[ProxyWorkload]:
    ip = random_loopback_address()
    admin, outbound, status, health, prometheus, xds = free_tcp_ports(ip, 6)
    workload = ProxyWorkload(
        name="web-abcde-0",
        namespace="shop",
        ip=ip,
        labels={"app": "web"},
        proxy_ports=ProxyPorts(
            admin=admin, outbound=outbound, status=status, health=health, prometheus=prometheus
        ),
    )
    boot = build_bootstrap(workload, BootstrapOptions(xds_host=ip, xds_port=xds))
    for kind in ("cds", "lds"):
        (tmp_path / f"{kind}.json").write_text(json.dumps(EMPTY))
        boot["dynamic_resources"][f"{kind}_config"] = {
            "path_config_source": {"path": str(tmp_path / f"{kind}.json")},
            "resource_api_version": "V3",
        }
    del boot["dynamic_resources"]["ads_config"]
    # Without ADS, the clusters whose endpoints come over ADS cannot exist either.
    clusters = boot["static_resources"]["clusters"]
    boot["static_resources"]["clusters"] = [c for c in clusters if c.get("type") != "EDS"]
    (tmp_path / "bootstrap.json").write_text(json.dumps(boot))
    process = subprocess.Popen(
        [default_envoy_binary(), "-c", str(tmp_path / "bootstrap.json"), "--disable-hot-restart"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "envoy.log").open("wb"),
    )
    try:
        yield workload
    finally:
        process.kill()
        process.wait()


async def test_ready_after_first_cds_and_lds(envoy: ProxyWorkload) -> None:
    async with aiohttp.ClientSession() as session:
        admin = EnvoyAdmin(envoy.ip, envoy.proxy_ports.admin, session)
        assert await wait_for(admin.is_ready, timeout=20, message="Envoy ready")
        assert await admin.server_state() == "LIVE"


async def test_health_listener_forwards_to_the_agent(envoy: ProxyWorkload) -> None:
    ready = False

    async def probe() -> bool:
        return ready

    status = StatusServer()
    await status.start()
    assert await status.add_pod(envoy.ip, envoy.proxy_ports.status, probe)
    url = f"http://{envoy.ip}:{envoy.proxy_ports.health}/healthz/ready"
    try:
        async with aiohttp.ClientSession() as session:
            admin = EnvoyAdmin(envoy.ip, envoy.proxy_ports.admin, session)
            await wait_for(admin.is_ready, timeout=20)

            async def health() -> int:
                async with session.get(url) as resp:
                    return resp.status

            assert await wait_for(health, timeout=10) == 503
            ready = True
            assert await health() == 200
    finally:
        await status.close()


async def test_prometheus_listener_serves_envoy_stats(envoy: ProxyWorkload) -> None:
    url = f"http://{envoy.ip}:{envoy.proxy_ports.prometheus}/stats/prometheus"
    async with aiohttp.ClientSession() as session:

        async def scrape() -> str:
            async with session.get(url) as resp:
                resp.raise_for_status()
                return await resp.text()

        text = await wait_for(scrape, timeout=20)
        assert "envoy_cluster_manager_cds_update_success" in text
