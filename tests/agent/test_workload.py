"""The agent reads the pod files the platform writes: keep the two models in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainsail.agent import PodFileError, ProxyPorts, ProxyWorkload, load_workload
from mainsail.agent.layout import AgentLayout
from mainsail.platform import (
    ContainerPortSpec,
    ContainerSpec,
    PodSpec,
    PodStore,
    StateLayout,
)
from mainsail.platform import ProxyPorts as PlatformProxyPorts


def test_platform_pod_file_reads_as_a_workload(tmp_path: Path) -> None:
    pod = PodSpec(
        name="reviews-v1-x7k2p-0",
        namespace="default",
        ip="127.128.0.9",
        workload_name="reviews-v1",
        labels={"app": "reviews"},
        service_account="bookinfo-reviews",
        containers=(
            ContainerSpec(
                name="app", command=("x",), ports=(ContainerPortSpec(container_port=9080),)
            ),
        ),
        app_ports={9080: 40001},
        proxy_ports=PlatformProxyPorts(admin=1, outbound=2, status=3, health=4, prometheus=5),
    )
    path = PodStore(StateLayout(tmp_path)).write(pod)
    assert path.parent == AgentLayout(tmp_path).pods_dir
    workload = load_workload(path)
    assert workload == ProxyWorkload(
        name="reviews-v1-x7k2p-0",
        namespace="default",
        ip="127.128.0.9",
        workload_name="reviews-v1",
        labels={"app": "reviews"},
        service_account="bookinfo-reviews",
        proxy_type="sidecar",
        app_ports={9080: 40001},
        proxy_ports=ProxyPorts(admin=1, outbound=2, status=3, health=4, prometheus=5),
    )
    assert workload.key == pod.key
    assert set(ProxyPorts.model_fields) == set(PlatformProxyPorts.model_fields)
    assert set(ProxyWorkload.model_fields) <= set(PodSpec.model_fields)


def test_broken_pod_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(PodFileError):
        load_workload(path)


def test_agent_reads_the_token_file_the_platform_writes(tmp_path: Path) -> None:
    from mainsail.agent.pod_identity import read_token
    from mainsail.ca.tokens import ensure_signing_key
    from mainsail.platform.pod_tokens import PodTokens

    key = tmp_path / "key.pem"
    ensure_signing_key(key)
    pod = PodSpec(name="web-0", namespace="shop", ip="127.128.0.9", service_account="web")
    written = PodTokens(StateLayout(tmp_path), key).write(pod)
    assert AgentLayout(tmp_path).token_file(pod.key) == written
    assert read_token(written) == written.read_text().strip()
