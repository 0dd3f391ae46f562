from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

from mainsail.platform import (
    AppSupervisor,
    ContainerPortSpec,
    ContainerSpec,
    PodSpec,
    PodStatus,
    RestartBackoff,
    ServiceEnv,
    StateLayout,
)
from mainsail.testing.clock import FakeClock
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for

# A tiny app: writes its environment to a file, then serves until stopped.
APP = """
import json, os, signal, sys, time
with open(sys.argv[1], "w") as f:
    json.dump(dict(os.environ), f)
print("app up", os.getpid(), flush=True)
signal.signal(signal.SIGTERM, lambda *_: (print("app got SIGTERM", flush=True), sys.exit(0)))
while True:
    time.sleep(1)
"""


def app_pod(tmp_path: Path, *, command: tuple[str, ...]) -> PodSpec:
    ip = random_loopback_address()
    return PodSpec(
        name="web-abcde-0",
        namespace="shop",
        ip=ip,
        service_account="web",
        containers=(
            ContainerSpec(
                name="web",
                command=command,
                env={"GREETING": "hello"},
                ports=(ContainerPortSpec(container_port=8080),),
            ),
        ),
        app_ports={8080: free_port(ip)},
    )


async def test_runs_restarts_and_stops_an_app(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    pod = app_pod(tmp_path, command=("python", "-c", APP, str(env_file)))
    layout = StateLayout(tmp_path / "state")
    supervisor = AppSupervisor(
        layout, backoff=lambda: RestartBackoff(initial=0.05, cap=0.2), grace_period=5
    )
    await supervisor.start_pod(pod, services=[ServiceEnv(name="db", host="127.0.0.1", port=5432)])

    def running(other_than: int | None = None) -> PodStatus | None:
        status = supervisor.status("shop", pod.name)
        if status is None or not status.running or status.containers[0].pid == other_than:
            return None
        return status

    def app_env() -> dict[str, str] | None:
        return json.loads(env_file.read_text()) if env_file.exists() else None

    try:
        status = await wait_for(running, message="app running")
        assert status is not None
        env = await wait_for(app_env)
        assert env is not None
        assert env["PORT"] == env["PORT_8080"] == str(pod.app_ports[8080])
        assert env["POD_IP"] == env["INSTANCE_IP"] == pod.ip
        assert env["POD_NAME"] == pod.name and env["POD_NAMESPACE"] == "shop"
        assert env["SERVICE_ACCOUNT"] == "web"
        assert env["HTTP_PROXY"] == f"http://{pod.ip}:{pod.proxy_ports.outbound}"
        assert env["GREETING"] == "hello"
        assert env["DB_SERVICE_HOST"] == "127.0.0.1" and env["DB_SERVICE_PORT"] == "5432"
        assert env["PATH"].startswith(os.path.dirname(sys.executable))

        first_pid = status.containers[0].pid
        assert first_pid is not None
        env_file.unlink()
        os.kill(first_pid, signal.SIGKILL)

        restarted = await wait_for(lambda: running(other_than=first_pid), message="restarted")
        assert restarted is not None
        assert restarted.restarts == 1
        assert restarted.containers[0].last_exit == -signal.SIGKILL
        await wait_for(env_file.exists)
        # The restarted app writes its environment, then says it is up: wait for the line too,
        # or the stop below may reach it in between.
        log_file = layout.container_log("shop", pod.name, "web")
        await wait_for(
            lambda: len(re.findall(r"^app up \d+$", log_file.read_text(), re.MULTILINE)) == 2
        )
    finally:
        await supervisor.stop_all()

    assert supervisor.status("shop", pod.name) is None
    log = layout.container_log("shop", pod.name, "web").read_text()
    assert len(re.findall(r"^app up \d+$", log, re.MULTILINE)) == 2
    assert "app got SIGTERM" in log  # stopped gracefully, not killed
    assert "restart in" in log


async def test_stop_kills_an_app_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)"
    pod = app_pod(tmp_path, command=("python", "-c", stubborn))
    layout = StateLayout(tmp_path)
    supervisor = AppSupervisor(layout, grace_period=0.2)
    await supervisor.start_pod(pod)
    log = layout.container_log("shop", pod.name, "web")
    await wait_for(lambda: "up" in log.read_text().splitlines())
    status = supervisor.status("shop", pod.name)
    assert status is not None and status.containers[0].pid is not None
    pid = status.containers[0].pid
    await asyncio.wait_for(supervisor.stop_pod("shop", pod.name), 5)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


async def test_crash_loop_backs_off_exponentially(tmp_path: Path) -> None:
    clock = FakeClock()
    pod = app_pod(tmp_path, command=("python", "-c", "raise SystemExit(3)"))
    supervisor = AppSupervisor(StateLayout(tmp_path), clock=clock.now, sleep=clock.sleep)
    await supervisor.start_pod(pod)
    try:
        for delay in (1, 2, 4, 8, 16, 30, 30):
            await wait_for(lambda: clock.sleepers == 1, message=f"backing off {delay}s")
            await clock.advance(delay - 0.01)
            assert clock.sleepers == 1, f"restarted before {delay}s"
            await clock.advance(0.01)
            assert clock.sleepers == 0
        status = supervisor.status("shop", pod.name)
        assert status is not None
        assert status.containers[0].last_exit == 3
        assert status.containers[0].restarts >= 6
    finally:
        await supervisor.stop_all()


async def test_missing_command_is_logged_and_retried(tmp_path: Path) -> None:
    clock = FakeClock()
    pod = app_pod(tmp_path, command=("/nonexistent/mainsail-app",))
    layout = StateLayout(tmp_path)
    supervisor = AppSupervisor(layout, clock=clock.now, sleep=clock.sleep)
    await supervisor.start_pod(pod)
    log = layout.container_log("shop", pod.name, "web")
    try:
        await wait_for(lambda: clock.sleepers == 1)
        assert "cannot start" in log.read_text()
        await clock.advance(1)
        await wait_for(lambda: log.read_text().count("cannot start") == 2)
    finally:
        await supervisor.stop_all()


async def test_router_pod_runs_no_app(tmp_path: Path) -> None:
    pod = PodSpec(name="gw-abcde-0", namespace="istio-system", ip="127.9.9.9", proxy_type="router")
    supervisor = AppSupervisor(StateLayout(tmp_path))
    await supervisor.start_pod(pod)
    status = supervisor.status("istio-system", "gw-abcde-0")
    assert status is not None and status.containers == ()
    await supervisor.stop_all()
