"""The node agent gives every pod an SVID from the real mesh CA (gRPC, pod token) over its own
SDS socket, and its real Envoy holds it. A control-plane stand-in serves ADS and the CA on one
gRPC port, as the control plane does; ADS gives each Envoy a cluster with Istio's ISTIO_MUTUAL
TLS context, so Envoy asks SDS for ``default`` and ``ROOTCA``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from mainsail.ads.node import ProxyNode
from mainsail.ads.server import AdsServer
from mainsail.agent import NodeAgent, NodeAgentSettings
from mainsail.ca.server import add_to_server
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.settings import CaSettings
from mainsail.platform import PodSpec, PodStore, StateLayout
from mainsail.platform.pod_tokens import PodTokens
from mainsail.testing.envoy_config import proxy_config
from mainsail.testing.sds import mtls_cluster_resource
from mainsail.testing.signer import InMemoryCa
from mainsail.testing.waiting import wait_for
from mainsail.xds.resources import ProxyConfig
from tests.agent.sds_envoy import secrets_in


def _config_for(node: ProxyNode) -> ProxyConfig:
    return proxy_config(clusters=[mtls_cluster_resource("mtls-probe", "127.0.0.1", 1)])


@pytest.fixture
async def control_plane(tmp_path: Path) -> AsyncIterator[tuple[CertificateAuthority, int]]:
    authority = CertificateAuthority(CaSettings(state_dir=tmp_path / "ca"))
    ads = AdsServer(_config_for)
    server = grpc.aio.server()
    ads.add_to_server(server)
    add_to_server(authority, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield authority, port
    finally:
        await ads.close()
        await server.stop(grace=None)


@pytest.fixture
def sds_settings(settings: NodeAgentSettings, control_plane: tuple[Any, int]) -> NodeAgentSettings:
    return settings.model_copy(update={"xds_port": control_plane[1], "csr_retry_initial_s": 0.2})


def place(state_dir: Path, authority: CertificateAuthority, pod: PodSpec) -> None:
    """What the platform does: the pod's token, then its pod file."""
    PodTokens(StateLayout(state_dir), authority.layout.token_signing_key).write(pod)
    PodStore(StateLayout(state_dir)).write(pod)


async def envoy_secrets(agent: NodeAgent, pod: PodSpec) -> dict[str, dict[str, Any]]:
    assert agent._session is not None
    url = f"http://{pod.ip}:{pod.proxy_ports.admin}/config_dump"
    async with agent._session.get(url) as response:
        dump: dict[str, Any] = await response.json(content_type=None)
    return secrets_in(dump)


async def served_serial(
    agent: NodeAgent, pod: PodSpec, other_than: int | None = None
) -> int | None:
    held = (await envoy_secrets(agent, pod)).get("default")
    if not held or held["status"] != "ACTIVE" or not held["serials"]:
        return None
    serial: int = held["serials"][0]
    return None if serial == other_than else serial


async def test_pod_gets_an_svid_from_the_mesh_ca_and_envoy_holds_it(
    sds_settings: NodeAgentSettings,
    control_plane: tuple[CertificateAuthority, int],
    pod: PodSpec,
    state_dir: Path,
) -> None:
    authority, _ = control_plane
    pod = pod.model_copy(update={"service_account": "web"})
    place(state_dir, authority, pod)
    agent = NodeAgent(sds_settings)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        identity = agent.identities[pod.key].identity
        serial = await wait_for(lambda: served_serial(agent, pod), timeout=30, message="SVID")
        assert identity.svid is not None and serial == identity.svid.serial
        assert identity.svid.spiffe_id == "spiffe://cluster.local/ns/shop/sa/web"
        held = await envoy_secrets(agent, pod)
        roots = [c.serial_number for c in authority.material.bundle(datetime.now(UTC))]
        assert held["ROOTCA"]["status"] == "ACTIVE" and held["ROOTCA"]["serials"] == roots
        assert agent.identities[pod.key].socket.exists()
        # The key lives in the agent's memory and Envoy's only: nothing under the state dir.
        written = [p for p in state_dir.rglob("*") if p.is_file()]
        assert written and not any(b"PRIVATE KEY" in p.read_bytes() for p in written)

        # The pod goes: its Envoy, SDS server and socket go with it.
        socket = agent.identities[pod.key].socket
        PodStore(StateLayout(state_dir)).remove(pod.namespace, pod.name)
        await agent.reconcile()
        await agent.settle()
        assert pod.key not in agent.identities and not socket.exists()
    finally:
        await agent.close(stop_proxies=True)


async def test_agent_restart_serves_a_new_svid_to_the_adopted_envoy(
    sds_settings: NodeAgentSettings,
    control_plane: tuple[CertificateAuthority, int],
    pod: PodSpec,
    state_dir: Path,
) -> None:
    authority, _ = control_plane
    place(state_dir, authority, pod)
    first_agent = NodeAgent(sds_settings)
    await first_agent.start()
    await first_agent.reconcile()
    await first_agent.settle()
    pid = first_agent.proxies[pod.key].status().pid
    first = await wait_for(lambda: served_serial(first_agent, pod), timeout=30, message="SVID")
    await first_agent.close()  # Envoy keeps running on its last config and certificate
    second_agent = NodeAgent(sds_settings)
    await second_agent.start()
    try:
        await second_agent.reconcile()
        await second_agent.settle()
        proxy = second_agent.proxies[pod.key]
        assert proxy.status().adopted and proxy.status().pid == pid
        second = await wait_for(
            lambda: served_serial(second_agent, pod, other_than=first),
            timeout=30,
            message="a new SVID after the agent restart",
        )
        assert second != first
        assert second_agent.proxies[pod.key].status().pid == pid
    finally:
        await second_agent.close(stop_proxies=True)


async def test_refused_csr_is_an_error_in_the_agent_log(
    sds_settings: NodeAgentSettings,
    control_plane: tuple[CertificateAuthority, int],
    pod: PodSpec,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    authority, _ = control_plane
    # The token is for service account "web"; the pod file then claims "admin".
    PodTokens(StateLayout(state_dir), authority.layout.token_signing_key).write(
        pod.model_copy(update={"service_account": "web"})
    )
    PodStore(StateLayout(state_dir)).write(pod.model_copy(update={"service_account": "admin"}))
    agent = NodeAgent(sds_settings)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()

        def refusal() -> str | None:
            for record in caplog.records:
                message = record.getMessage()
                if record.levelno == logging.ERROR and "CSR refused" in message:
                    return message
            return None

        message = await wait_for(refusal, timeout=20, message="the refusal in the log")
        assert pod.key in message and "PERMISSION_DENIED" in message
        assert agent.identities[pod.key].identity.svid is None
    finally:
        await agent.close(stop_proxies=True)


async def test_ca_unreachable_keeps_the_served_certificate_and_retries(
    sds_settings: NodeAgentSettings,
    control_plane: tuple[CertificateAuthority, int],
    pod: PodSpec,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    authority, _ = control_plane
    place(state_dir, authority, pod)
    ca = InMemoryCa()
    # 10 s certificates renew at about 5 s; the CA goes away before that.
    settings = sds_settings.model_copy(update={"cert_ttl_s": 10})
    agent = NodeAgent(settings, signer=ca)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        first = await wait_for(lambda: served_serial(agent, pod), timeout=20, message="SVID")
        ca.unreachable = True
        identity = agent.identities[pod.key].identity
        await wait_for(lambda: identity.failures >= 3, timeout=20, message="three retries")
        assert await served_serial(agent, pod) == first
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("CA unreachable" in m and "expires in" in m for m in warnings), warnings
        ca.unreachable = False
        await wait_for(
            lambda: served_serial(agent, pod, other_than=first), timeout=20, message="renewed"
        )
    finally:
        await agent.close(stop_proxies=True)
