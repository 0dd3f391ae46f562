"""The node agent and its real Envoys on the control plane's TLS port (istiod's 15012): the agent
asks the CA for the pod's SVID over TLS (verifying the root file and ``ISTIOD_SAN``), Envoy's
``xds-grpc`` bootstrap cluster dials the same port over TLS, presents that SVID and gets its
config. A control-plane stand-in serves ADS and the CA on a plaintext gRPC port with the real
TLS port in front, as the control plane does."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from mainsail import naming
from mainsail.ads.server import AdsServer
from mainsail.agent import NodeAgent, NodeAgentSettings
from mainsail.agent.ca_signer import CaSigner
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH, istiod_dns_names
from mainsail.ca.settings import CaSettings
from mainsail.ca.tls_port import SecureXdsPort
from mainsail.platform import PodSpec
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_config import proxy_config
from mainsail.testing.sds import mtls_cluster_resource
from mainsail.testing.secure_plane import SecurePlane, secure_plane
from mainsail.testing.waiting import wait_for
from mainsail.xds.resources import ProxyConfig
from tests.agent.test_node_agent_sds import envoy_secrets, place

WEB = "spiffe://cluster.local/ns/shop/sa/web"


def _config_for(node: ProxyNode) -> ProxyConfig:
    return proxy_config(clusters=[mtls_cluster_resource("mtls-probe", "127.0.0.1", 1)])


@pytest.fixture
async def plane(tmp_path: Path, state_dir: Path) -> AsyncIterator[SecurePlane]:
    authority = CertificateAuthority(CaSettings(state_dir=tmp_path / "ca"))
    # Where the agent looks by default: <home>/var/run/secrets/istio/root-cert.pem. One XdsPeers
    # for the servicer and the TLS port: Envoy's stream is authenticated (XDS_AUTH).
    async with secure_plane(authority, _config_for, state_dir / ROOT_CERT_PATH) as found:
        yield found


@pytest.fixture
def tls_settings(settings: NodeAgentSettings, plane: SecurePlane) -> NodeAgentSettings:
    return settings.model_copy(
        update={"xds_port": plane.tls.port, "xds_tls": True, "csr_retry_initial_s": 0.2}
    )


async def envoy_stat(agent: NodeAgent, pod: PodSpec, name: str) -> int:
    assert agent._session is not None
    url = f"http://{pod.ip}:{pod.proxy_ports.admin}/stats?filter=^{name}$"
    try:
        async with agent._session.get(url) as response:
            text = await response.text()
    except aiohttp.ClientError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


def synced_proxies(ads: AdsServer) -> list[str]:
    return [s.proxy_id for s in ads.proxy_status() if s.synced and s.of(naming.CLUSTER_TYPE)]


async def test_envoy_syncs_over_tls_presenting_its_svid(
    tls_settings: NodeAgentSettings, plane: SecurePlane, pod: PodSpec, state_dir: Path
) -> None:
    pod = pod.model_copy(update={"service_account": "web"})
    place(state_dir, plane.authority, pod)
    agent = NodeAgent(tls_settings)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        # The CSR went over TLS (the agent has no certificate yet: token only).
        await wait_for(
            lambda: agent.identities[pod.key].identity.svid is not None,
            timeout=30,
            message="the pod's SVID over TLS",
        )
        assert plane.tls.client_identities[""] >= 1
        # Envoy's ADS stream: TLS to the same port, its SVID as client certificate.
        await wait_for(
            lambda: synced_proxies(plane.ads), timeout=60, message="Envoy synced over TLS"
        )
        assert plane.tls.client_identities[WEB] >= 1
        assert await envoy_stat(agent, pod, "cluster.xds-grpc.ssl.handshake") >= 1
        dump_url = (
            f"http://{pod.ip}:{pod.proxy_ports.admin}/config_dump?resource=dynamic_active_clusters"
        )
        assert agent._session is not None
        async with agent._session.get(dump_url) as response:
            assert "mtls-probe" in await response.text()
        held = await envoy_secrets(agent, pod)
        assert held["default"]["status"] == "ACTIVE"
    finally:
        await agent.close(stop_proxies=True)


async def test_envoy_refuses_a_control_plane_without_the_expected_san(
    tls_settings: NodeAgentSettings, plane: SecurePlane, pod: PodSpec, state_dir: Path
) -> None:
    """Envoy holds its SVID (here from the plaintext port) but its xds-grpc cluster expects
    another SAN: every handshake fails SAN verification, nothing is synced."""
    pod = pod.model_copy(update={"service_account": "web"})
    place(state_dir, plane.authority, pod)
    settings = tls_settings.model_copy(update={"xds_san": "istiod.elsewhere.svc"})
    agent = NodeAgent(settings, signer=CaSigner(f"127.0.0.1:{plane.plain}"))
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()

        async def san_failures() -> int:
            return await envoy_stat(agent, pod, "cluster.xds-grpc.ssl.fail_verify_san")

        await wait_for(san_failures, timeout=60, message="Envoy refusing the control plane's SAN")
        assert (await envoy_secrets(agent, pod))["default"]["status"] == "ACTIVE"
        assert plane.ads.proxy_status() == ()
        assert plane.tls.client_identities[WEB] == 0
    finally:
        await agent.close(stop_proxies=True)


async def test_agent_refuses_a_ca_without_the_expected_san_with_a_clear_error(
    tls_settings: NodeAgentSettings,
    plane: SecurePlane,
    pod: PodSpec,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    place(state_dir, plane.authority, pod)
    settings = tls_settings.model_copy(update={"xds_san": "istiod.elsewhere.svc"})
    agent = NodeAgent(settings)
    caplog.set_level(logging.ERROR, logger="mainsail.agent")
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()

        def refusal() -> str | None:
            return next(
                (r.getMessage() for r in caplog.records if "CA not trusted" in r.getMessage()),
                None,
            )

        message = await wait_for(refusal, timeout=30, message="the agent's error")
        assert message is not None
        assert "not the expected SAN 'istiod.elsewhere.svc'" in message
        assert f"DNS:{ISTIOD_SAN}" in message
        assert str(state_dir / ROOT_CERT_PATH) in message
        assert plane.authority.issued(unexpired=False) == ()
    finally:
        await agent.close(stop_proxies=True)


async def test_agent_refuses_a_ca_under_another_root(
    tls_settings: NodeAgentSettings,
    plane: SecurePlane,
    pod: PodSpec,
    state_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = CertificateAuthority(CaSettings(state_dir=tmp_path / "stranger-ca"))
    other_root = tmp_path / "other-root.pem"
    other_root.write_text(stranger.roots_pem())
    place(state_dir, plane.authority, pod)
    settings = tls_settings.model_copy(update={"xds_root_cert": other_root})
    agent = NodeAgent(settings)
    caplog.set_level(logging.ERROR, logger="mainsail.agent")
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()

        def refusal() -> str | None:
            return next(
                (r.getMessage() for r in caplog.records if "CA not trusted" in r.getMessage()),
                None,
            )

        message = await wait_for(refusal, timeout=30, message="the agent's error")
        assert message is not None
        issuer = plane.authority.material.certificate.subject.rfc4514_string()
        assert f"issued by {issuer}, which is not a root of the trust bundle" in message
        assert str(other_root) in message
        assert plane.authority.issued(unexpired=False) == ()
    finally:
        await agent.close(stop_proxies=True)


async def test_after_a_root_rotation_envoy_reconnects_to_the_new_serving_chain(
    tls_settings: NodeAgentSettings, plane: SecurePlane, pod: PodSpec, state_dir: Path
) -> None:
    """The control plane's certificate follows a rotated root at once; the agent takes the new
    root from the root file (no SVID renewal needed), so a reconnecting Envoy trusts it."""
    pod = pod.model_copy(update={"service_account": "web"})
    place(state_dir, plane.authority, pod)
    agent = NodeAgent(tls_settings)
    await agent.start()
    try:
        await agent.reconcile()
        await agent.settle()
        await wait_for(lambda: synced_proxies(plane.ads), timeout=60, message="synced over TLS")
        old_root = plane.authority.material.certificate
        new_root = plane.authority.rotate_root(overlap=timedelta(hours=2))
        assert plane.tls.serving.certificate.issuer == new_root.subject
        await agent.reconcile()

        async def both_roots() -> bool:
            held = (await envoy_secrets(agent, pod)).get("ROOTCA") or {}
            return set(held.get("serials", ())) == {old_root.serial_number, new_root.serial_number}

        await wait_for(both_roots, timeout=30, message="ROOTCA with the new root")
        # Drop Envoy's stream: it must reconnect and verify the chain under the new root.
        port = plane.tls.port
        await plane.tls.close()
        plane.tls = SecureXdsPort(
            plane.authority,
            host="127.0.0.1",
            port=port,
            upstream=("127.0.0.1", plane.plain),
            root_cert_file=state_dir / ROOT_CERT_PATH,
            dns_names=istiod_dns_names(),
            ip_addresses=(ipaddress.ip_address("127.0.0.1"),),
            peers=plane.tls.peers,
        )
        await plane.tls.start()
        await wait_for(
            lambda: plane.tls.client_identities[WEB] >= 1,
            timeout=60,
            message="Envoy back on the TLS port under the new root",
        )
        await wait_for(lambda: synced_proxies(plane.ads), timeout=60, message="synced again")
    finally:
        await agent.close(stop_proxies=True)
