"""istiod's XDS_AUTH on the TLS port, with real TLS and real gRPC: an ADS stream relayed from the
TLS port is authenticated by its client certificate (``XdsPeers``) and must match the node's
namespace and service account; the CSR API still takes a token without a certificate; a client
on the plaintext port is never taken for a relayed one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2

from mainsail import naming
from mainsail.ca.client import request_certificate
from mainsail.ca.csr import new_workload_csr
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH
from mainsail.ca.xds_peers import (
    IdentityMismatch,
    RelayedPeer,
    XdsPeers,
    check_connection_identity,
    parse_grpc_peer,
)
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_config import eds_cluster, proxy_config
from mainsail.testing.secure_plane import SecurePlane, secure_plane
from mainsail.testing.waiting import wait_for
from mainsail.xds.generate import generate
from mainsail.xds.resources import ProxyConfig
from tests.config.secret_pems import Ca, tls_secret_yaml

from .conftest import SLEEP, token_for

OPTIONS = (("grpc.ssl_target_name_override", ISTIOD_SAN),)


def _config_for(node: ProxyNode) -> ProxyConfig:
    return proxy_config(clusters=[eds_cluster("blue")])


@pytest.fixture
async def plane(ca: CertificateAuthority, tmp_path: Path) -> AsyncIterator[SecurePlane]:
    async with secure_plane(ca, _config_for, tmp_path / "home" / ROOT_CERT_PATH) as found:
        yield found


def node(namespace: str = "default", service_account: str | None = "sleep") -> base_pb2.Node:
    metadata = struct_pb2.Struct()
    metadata.update({"NAMESPACE": namespace})
    if service_account is not None:
        metadata.update({"SERVICE_ACCOUNT": service_account})
    node_id = naming.build_node_id(
        naming.NodeId(
            proxy_type="sidecar",
            ip="10.0.0.1",
            pod_name="sleep-1",
            namespace=namespace,
            domain="cluster.local",
        )
    )
    return base_pb2.Node(id=node_id, metadata=metadata)


async def first_response(channel: grpc.aio.Channel, envoy_node: base_pb2.Node) -> list[str]:
    """The resource types of the first ADS response (raises the stream's gRPC error)."""
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    call = stub.StreamAggregatedResources()
    await call.write(discovery_pb2.DiscoveryRequest(type_url=naming.CLUSTER_TYPE, node=envoy_node))
    try:
        response = await call.read()
        assert isinstance(response, discovery_pb2.DiscoveryResponse), response
        return [r.type_url for r in response.resources]
    finally:
        call.cancel()


async def svid_credentials(plane: SecurePlane, spiffe_id: str = SLEEP) -> grpc.ChannelCredentials:
    """A client certificate for ``spiffe_id`` from the mesh CA (asked with its pod token)."""
    namespace, account = spiffe_id.split("/ns/")[1].split("/sa/")
    workload = new_workload_csr(spiffe_id)
    chain = await request_certificate(
        f"127.0.0.1:{plane.plain}",
        workload.csr_pem,
        0,
        token_for(plane.authority, namespace, account),
    )
    return grpc.ssl_channel_credentials(
        root_certificates=plane.tls.root_cert_file.read_bytes(),
        private_key=workload.key_pem.encode(),
        certificate_chain="".join(chain[:-1]).encode(),
    )


async def test_a_proxy_whose_svid_matches_its_node_is_served(plane: SecurePlane) -> None:
    credentials = await svid_credentials(plane)
    async with grpc.aio.secure_channel(plane.target, credentials, options=OPTIONS) as channel:
        assert await first_response(channel, node()) == [
            "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        ]
        # Without SERVICE_ACCOUNT in its metadata only the namespace is checked (istiod).
        assert await first_response(channel, node(service_account=None))
    await wait_for(lambda: len(plane.tls.peers) == 0, timeout=10, message="entry removed")


async def test_another_namespace_or_account_is_permission_denied_naming_both(
    plane: SecurePlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mainsail.ads")
    credentials = await svid_credentials(plane)
    async with grpc.aio.secure_channel(plane.target, credentials, options=OPTIONS) as channel:
        for claimed, wanted in (
            (node("shop"), "shop/sleep"),
            (node(service_account="web"), "default/web"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await first_response(channel, claimed)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert info.value.details() == (
                f"authorization failed: no identities ([{SLEEP}]) matched {wanted}"
            )
    assert plane.ads.proxy_status() == ()
    logged = [r.getMessage() for r in caplog.records if "Unauthorized XDS" in r.getMessage()]
    assert len(logged) == 2
    assert f"with identity [{SLEEP}]" in logged[0] and "matched shop/sleep" in logged[0]
    assert "sidecar~10.0.0.1~sleep-1.shop" in logged[0]


async def test_no_client_certificate_is_unauthenticated_for_ads_but_not_for_csrs(
    plane: SecurePlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mainsail.ads")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=plane.tls.root_cert_file.read_bytes()
    )
    async with grpc.aio.secure_channel(plane.target, credentials, options=OPTIONS) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await first_response(channel, node())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == "authentication failure"
    assert any(
        "Failed to authenticate client from 127.0.0.1:" in r.getMessage() for r in caplog.records
    )
    # The node agent's first CSR: no certificate, its token authenticates it.
    workload = new_workload_csr(SLEEP)
    chain = await request_certificate(
        plane.target,
        workload.csr_pem,
        0,
        token_for(plane.authority),
        root_pem=plane.tls.root_cert_file.read_text(),
        server_name=ISTIOD_SAN,
    )
    assert len(chain) == 2


async def test_the_plaintext_port_has_no_identity_and_keeps_its_rules(plane: SecurePlane) -> None:
    """A client dialling the plaintext port itself is not found in ``XdsPeers`` (even while a
    relayed connection is open), so any namespace it claims is served, as istiod's 15010."""
    credentials = await svid_credentials(plane)
    async with (
        grpc.aio.secure_channel(plane.target, credentials, options=OPTIONS) as relayed,
        grpc.aio.insecure_channel(f"127.0.0.1:{plane.plain}") as plain,
    ):
        assert await first_response(relayed, node())
        assert len(plane.tls.peers) == 1
        assert await first_response(plain, node("shop", "web"))


def test_grpc_peer_addresses_are_parsed_as_the_relay_registers_them() -> None:
    peers = XdsPeers()
    peers.add(("127.0.0.1", 5000), RelayedPeer(client="10.0.0.9:1", identities=(SLEEP,)))
    peers.add(("::1", 5001), RelayedPeer(client="10.0.0.9:2", identities=()))
    assert peers.lookup("ipv4:127.0.0.1:5000") == RelayedPeer(
        client="10.0.0.9:1", identities=(SLEEP,)
    )
    assert peers.lookup("ipv6:[::1]:5001") is not None
    assert peers.lookup("ipv6:[::ffff:127.0.0.1]:5000") is not None
    assert peers.lookup("ipv4:127.0.0.1:5001") is None
    assert peers.lookup("ipv4:127.0.0.2:5000") is None
    assert peers.lookup("unix:/tmp/x") is None
    assert parse_grpc_peer("ipv4:127.0.0.1") is None
    with pytest.raises(RuntimeError, match=r"127\.0\.0\.1:5000 is already registered"):
        peers.add(("127.0.0.1", 5000), RelayedPeer(client="x", identities=()))
    peers.remove(("127.0.0.1", 5000))
    assert peers.lookup("ipv4:127.0.0.1:5000") is None


def test_check_connection_identity_is_istiods() -> None:
    web = "spiffe://cluster.local/ns/shop/sa/web"
    assert check_connection_identity(("not-spiffe", web), "shop", "web").service_account == "web"
    assert check_connection_identity((web,), "shop", "").namespace == "shop"
    assert check_connection_identity((web,), "", "web").namespace == "shop"
    with pytest.raises(
        IdentityMismatch, match=r"^no identities \(\[not-spiffe\]\) matched shop/web$"
    ):
        check_connection_identity(("not-spiffe",), "shop", "web")
    with pytest.raises(IdentityMismatch, match=rf"^no identities \(\[{web}\]\) matched shop/db$"):
        check_connection_identity((web,), "shop", "db")


async def secret_names(
    channel: grpc.aio.Channel, envoy_node: base_pb2.Node, names: list[str]
) -> dict[str, bytes]:
    """Subscribe to SDS ``names`` as Envoy does for credentialName; what is served, by name
    (the certificate chain's bytes)."""
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    call = stub.StreamAggregatedResources()
    await call.write(
        discovery_pb2.DiscoveryRequest(
            type_url=naming.SECRET_TYPE, node=envoy_node, resource_names=names
        )
    )
    try:
        while True:
            response = await call.read()
            assert isinstance(response, discovery_pb2.DiscoveryResponse), response
            if response.type_url == naming.SECRET_TYPE:
                served = {}
                for body in response.resources:
                    secret = secret_pb2.Secret()
                    body.Unpack(secret)
                    served[secret.name] = secret.tls_certificate.certificate_chain.inline_bytes
                return served
    finally:
        call.cancel()


async def test_credential_secrets_go_to_the_authenticated_namespace_only(
    plane: SecurePlane,
) -> None:
    """Over the TLS port a proxy gets the Secrets of the namespace its certificate proves
    (claiming another is refused before anything is generated); the plaintext port, meant for
    this machine, still believes the node's namespace."""
    issuer = Ca.make("gateway-ca")
    ours, theirs = issuer.issue("default.example.com"), issuer.issue("shop.example.com")
    parsed = parse_documents(
        tls_secret_yaml("web", "default", ours) + "---\n" + tls_secret_yaml("web", "shop", theirs),
        source="secrets.yaml",
    )
    assert parsed.ok, parsed.errors
    snapshot = build_snapshot(parsed.resources)
    plane.ads.config_changed(lambda proxy: generate(snapshot, proxy))
    await plane.ads.push_now()
    wanted = [naming.build_credential_secret("web")]
    credentials = await svid_credentials(plane)
    async with grpc.aio.secure_channel(plane.target, credentials, options=OPTIONS) as channel:
        served = await secret_names(channel, node(), wanted)
        assert served == {"kubernetes://web": ours.cert_pem}
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await secret_names(channel, node("shop"), wanted)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with grpc.aio.insecure_channel(f"127.0.0.1:{plane.plain}") as plain:
        assert await secret_names(plain, node("shop"), wanted) == {
            "kubernetes://web": theirs.cert_pem
        }
