"""The node agent with a real Envoy per pod file (no control plane: Envoy runs, never ready)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from mainsail.agent import NodeAgent, NodeAgentSettings, run_node_agent
from mainsail.agent.admin import EnvoyAdmin
from mainsail.platform import PodSpec, PodStore
from mainsail.testing.processes import process_gone, processes_mentioning
from mainsail.testing.waiting import wait_for


async def status_code(pod: PodSpec) -> int:
    url = f"http://{pod.ip}:{pod.proxy_ports.status}/healthz/ready"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status


async def admin_state(pod: PodSpec) -> str | None:
    async with aiohttp.ClientSession() as session:
        return await EnvoyAdmin(pod.ip, pod.proxy_ports.admin, session).server_state()


def envoys_for(state_dir: Path, pod: PodSpec) -> list[int]:
    bootstrap = str(state_dir / "proxies" / pod.key / "bootstrap.json")
    return processes_mentioning(bootstrap)


async def test_starts_envoy_per_pod_file_then_drains_and_stops_it(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    agent = NodeAgent(settings)
    await agent.start()
    try:
        pod_store.write(pod)
        await agent.reconcile()
        await agent.settle()
        proxy = agent.proxies[pod.key]
        pid = proxy.status().pid
        assert pid is not None
        # Envoy is up (admin answers) but without a control plane it never gets CDS/LDS.
        state = await wait_for(lambda: admin_state(pod), timeout=20, message="Envoy admin up")
        assert state != "LIVE"
        assert await status_code(pod) == 503
        assert not await proxy.is_ready()
        assert envoys_for(state_dir, pod) == [pid]
        assert (state_dir / "logs" / f"{pod.key}.envoy.log").exists()
        assert (state_dir / "proxies" / pod.key / "envoy.pid").read_text().strip() == str(pid)

        await agent.reconcile()  # nothing changed: same Envoy
        await agent.settle()
        assert agent.proxies[pod.key].status().pid == pid

        pod_store.remove(pod.namespace, pod.name)
        await agent.reconcile()
        await agent.settle()
        assert pod.key not in agent.proxies
        assert process_gone(pid)
        assert not (state_dir / "proxies" / pod.key / "envoy.pid").exists()
        try:
            await status_code(pod)
            raise AssertionError("status endpoint still served after the pod went away")
        except aiohttp.ClientConnectionError:
            pass
    finally:
        await agent.close(stop_proxies=True)


async def test_stop_drains_through_admin(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore
) -> None:
    agent = NodeAgent(settings)
    await agent.start()
    try:
        pod_store.write(pod)
        await agent.reconcile()
        await agent.settle()
        proxy = agent.proxies[pod.key]
        await wait_for(lambda: admin_state(pod), timeout=20)
        report = await proxy.stop()
        assert report.drained  # admin accepted POST /drain_listeners?inboundonly&graceful
        assert report.active_connections == 0  # so the drain ended early
        assert report.drain_seconds < settings.termination_drain_s
        assert not report.killed  # SIGTERM was enough
    finally:
        await agent.close(stop_proxies=True)


async def test_restarts_envoy_after_kill_9(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    agent = NodeAgent(settings)
    await agent.start()
    try:
        pod_store.write(pod)
        await agent.reconcile()
        await agent.settle()
        proxy = agent.proxies[pod.key]
        first = proxy.status().pid
        assert first is not None
        await wait_for(lambda: admin_state(pod), timeout=20)
        os.kill(first, signal.SIGKILL)

        second = await wait_for(
            lambda: (pid := proxy.status().pid) is not None and pid != first and pid,
            timeout=20,
            message="Envoy restarted",
        )
        await wait_for(lambda: admin_state(pod), timeout=20, message="restarted Envoy admin up")
        status = proxy.status()
        assert status.restarts == 1
        assert status.last_exit == -signal.SIGKILL
        assert envoys_for(state_dir, pod) == [second]
        assert await status_code(pod) == 503
    finally:
        await agent.close(stop_proxies=True)


AGENT_MAIN = """
import asyncio, sys
from mainsail.agent import NodeAgentSettings, run_node_agent
settings = NodeAgentSettings.model_validate_json(sys.argv[1])
asyncio.run(run_node_agent(settings))
"""


async def test_a_restarted_agent_adopts_the_running_envoy(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    pod_store.write(pod)
    first_agent = subprocess.Popen(
        [sys.executable, "-c", AGENT_MAIN, settings.model_dump_json()],
        stdout=subprocess.DEVNULL,
        stderr=(state_dir / "agent.log").open("wb"),
    )
    try:
        await wait_for(lambda: admin_state(pod), timeout=30, message="Envoy admin up")
        await wait_for(lambda: status_code(pod), timeout=10, message="agent status up")
        (envoy_pid,) = envoys_for(state_dir, pod)
    finally:
        first_agent.kill()  # kill -9: no cleanup at all
        first_agent.wait()

    # Envoy lives on without its agent (its own session), still serving admin.
    assert not process_gone(envoy_pid)
    assert await admin_state(pod) is not None

    agent = NodeAgent(settings)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        status = agent.proxies[pod.key].status()
        assert status.adopted
        assert status.pid == envoy_pid
        assert envoys_for(state_dir, pod) == [envoy_pid]  # no duplicate
        assert await wait_for(lambda: status_code(pod), timeout=10) == 503

        # The adopted Envoy is supervised like our own: a crash restarts it.
        os.kill(envoy_pid, signal.SIGKILL)
        await wait_for(
            lambda: agent.proxies[pod.key].status().pid not in (None, envoy_pid),
            timeout=20,
            message="adopted Envoy restarted",
        )
    finally:
        await agent.close(stop_proxies=True)
    await asyncio.sleep(0)
    assert envoys_for(state_dir, pod) == []


async def test_a_changed_pod_file_replaces_the_envoy(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    agent = NodeAgent(settings)
    await agent.start()
    try:
        pod_store.write(pod)
        await agent.reconcile()
        await agent.settle()
        first = agent.proxies[pod.key].status().pid
        pod_store.write(pod.model_copy(update={"labels": {"app": "web", "version": "v2"}}))
        await agent.reconcile()
        await agent.settle()
        proxy = agent.proxies[pod.key]
        assert proxy.workload.labels["version"] == "v2"
        assert first is not None and process_gone(first)
        # Right after exec, /proc/<pid>/cmdline can still be empty: wait until Envoy is up.
        await wait_for(lambda: admin_state(pod), timeout=20)
        assert envoys_for(state_dir, pod) == [proxy.status().pid]
        bootstrap = (state_dir / "proxies" / pod.key / "bootstrap.json").read_text()
        assert '"version": "v2"' in bootstrap
    finally:
        await agent.close(stop_proxies=True)


async def test_an_envoy_with_an_outdated_bootstrap_is_replaced_not_adopted(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    pod_store.write(pod)
    agent = NodeAgent(settings)
    await agent.start()
    await agent.reconcile()
    await agent.settle()
    old = agent.proxies[pod.key].status().pid
    await agent.close()  # leaves Envoy running
    assert old is not None and not process_gone(old)

    moved = settings.model_copy(update={"xds_port": settings.xds_port + 1})
    agent = NodeAgent(moved)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        status = agent.proxies[pod.key].status()
        assert not status.adopted
        assert status.pid != old
        assert process_gone(old)
        await wait_for(lambda: admin_state(pod), timeout=20)
        assert envoys_for(state_dir, pod) == [status.pid]
    finally:
        await agent.close(stop_proxies=True)


async def test_run_node_agent_until_stopped(
    settings: NodeAgentSettings, pod: PodSpec, pod_store: PodStore, state_dir: Path
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_node_agent(settings, stop=stop, handle_signals=False))
    pod_store.write(pod)
    assert await wait_for(lambda: status_code(pod), timeout=20) == 503
    (envoy_pid,) = envoys_for(state_dir, pod)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not process_gone(envoy_pid)  # left running for the next agent to adopt
