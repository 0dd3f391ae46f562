from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.agent import NodeAgentSettings
from mainsail.platform import PodSpec, PodStore, ProxyPorts, StateLayout
from mainsail.testing.loopback import free_tcp_ports, random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.processes import kill_processes_mentioning


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    state.mkdir()
    yield state
    # Never leave an Envoy (or agent) of this test running on the shared host.
    kill_processes_mentioning(str(state))


@pytest.fixture
def pod(state_dir: Path) -> PodSpec:
    ip = random_loopback_address()
    admin, outbound, status, health, prometheus = free_tcp_ports(ip, 5)
    return PodSpec(
        name="web-abcde-0",
        namespace="shop",
        ip=ip,
        workload_name="web",
        labels={"app": "web", "version": "v1"},
        proxy_ports=ProxyPorts(
            admin=admin, outbound=outbound, status=status, health=health, prometheus=prometheus
        ),
    )


@pytest.fixture
def settings(state_dir: Path) -> NodeAgentSettings:
    # No control plane listens there: Envoy starts, keeps retrying ADS, and is never ready.
    return NodeAgentSettings(
        state_dir=state_dir,
        xds_host="127.0.0.1",
        xds_port=free_port("127.0.0.1"),
        termination_drain_s=1.0,
        exit_grace_s=5.0,
        restart_initial_s=0.1,
        restart_cap_s=0.5,
        pod_poll_interval_s=0.05,
        proxy_poll_interval_s=0.05,
    )


@pytest.fixture
def pod_store(state_dir: Path) -> PodStore:
    return PodStore(StateLayout(state_dir))
