"""istiod's XDS_AUTH with a real Envoy on the control plane's TLS port: an Envoy presenting an
SVID of the namespace its node claims syncs; one whose node claims another namespace is refused
with PERMISSION_DENIED, which both the control plane's log and Envoy's own log name.

Envoy runs from a hand-written bootstrap (its SVID and the root inline) rather than through the
node agent, because the agent only ever writes a node that matches its pod's SVID."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mainsail import naming
from mainsail.ads.server import AdsServer
from mainsail.ca.client import request_certificate
from mainsail.ca.csr import new_workload_csr
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import ISTIOD_SAN, ROOT_CERT_PATH
from mainsail.ca.settings import CaSettings
from mainsail.ca.tokens import mint_pod_token
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_config import eds_cluster, endpoints, proxy_config
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.secure_plane import SecurePlane, secure_plane
from mainsail.testing.waiting import wait_for
from mainsail.xds.resources import ProxyConfig

WEB = "spiffe://cluster.local/ns/shop/sa/web"


def _config_for(node: ProxyNode) -> ProxyConfig:
    return proxy_config(
        clusters=[eds_cluster("blue")], endpoints=[endpoints("blue", [("127.0.0.1", 9)])]
    )


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[SecurePlane]:
    authority = CertificateAuthority(CaSettings(state_dir=tmp_path / "ca"))
    async with secure_plane(authority, _config_for, tmp_path / "home" / ROOT_CERT_PATH) as found:
        yield found


async def svid(plane: SecurePlane) -> tuple[str, str]:
    """The key and chain of ``WEB``'s SVID, asked of the CA with the pod's token."""
    workload = new_workload_csr(WEB)
    token = mint_pod_token(plane.authority.layout.token_signing_key, "shop", "web", "web-1", 600)
    chain = await request_certificate(f"127.0.0.1:{plane.plain}", workload.csr_pem, 0, token)
    return workload.key_pem, "".join(chain[:-1])


def bootstrap(plane: SecurePlane, namespace: str, key_pem: str, chain_pem: str) -> dict[str, Any]:
    """An Envoy whose node claims ``namespace`` (service account web) and that dials the TLS
    port presenting the SVID, verifying the control plane as Istio's bootstrap does."""
    node_id = naming.build_node_id(
        naming.NodeId(proxy_type="sidecar", ip="127.0.0.1", pod_name="web-1", namespace=namespace)
    )
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    tls = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "sni": ISTIOD_SAN,
        "common_tls_context": {
            "alpn_protocols": ["h2"],
            "tls_certificates": [
                {
                    "certificate_chain": {"inline_string": chain_pem},
                    "private_key": {"inline_string": key_pem},
                }
            ],
            "validation_context": {
                "trusted_ca": {"inline_string": plane.tls.root_cert_file.read_text()},
                "match_typed_subject_alt_names": [
                    {"san_type": "DNS", "matcher": {"exact": ISTIOD_SAN}}
                ],
            },
        },
    }
    http2 = {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
    endpoint = {"socket_address": {"address": "127.0.0.1", "port_value": plane.tls.port}}
    return {
        "node": {
            "id": node_id,
            "cluster": f"web.{namespace}",
            "metadata": {"NAMESPACE": namespace, "SERVICE_ACCOUNT": "web"},
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": naming.XDS_CLUSTER}}],
            },
            "cds_config": ads_source,
            "lds_config": ads_source,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": naming.XDS_CLUSTER,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": naming.XDS_CLUSTER,
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": endpoint}}]}],
                    },
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http2
                    },
                    "transport_socket": {
                        "name": "envoy.transport_sockets.tls",
                        "typed_config": tls,
                    },
                }
            ]
        },
    }


def synced(ads: AdsServer) -> list[str]:
    return [s.proxy_id for s in ads.proxy_status() if s.synced and s.of(naming.ENDPOINT_TYPE)]


async def test_envoy_whose_svid_matches_its_namespace_syncs(
    plane: SecurePlane, tmp_path: Path
) -> None:
    key_pem, chain_pem = await svid(plane)
    async with EnvoyProcess(bootstrap(plane, "shop", key_pem, chain_pem), tmp_path / "envoy"):
        await wait_for(lambda: synced(plane.ads), timeout=60, message="Envoy synced over TLS")
        assert synced(plane.ads) == ["web-1.shop"]
        assert plane.tls.client_identities[WEB] >= 1
        assert [p.identities for p in plane.tls.peers.relayed()] == [(WEB,)]


async def test_envoy_claiming_another_namespace_is_refused_and_the_log_says_why(
    plane: SecurePlane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mainsail.ads")
    key_pem, chain_pem = await svid(plane)
    envoy = EnvoyProcess(bootstrap(plane, "payments", key_pem, chain_pem), tmp_path / "envoy")
    async with envoy:

        def refusal() -> str | None:
            return next(
                (r.getMessage() for r in caplog.records if "Unauthorized XDS" in r.getMessage()),
                None,
            )

        logged = await wait_for(refusal, timeout=60, message="the control plane's refusal")
        assert logged is not None
        assert f"with identity [{WEB}]" in logged
        assert f"no identities ([{WEB}]) matched payments/web" in logged
        assert "sidecar~127.0.0.1~web-1.payments" in logged
        wanted = f"authorization failed: no identities ([{WEB}]) matched payments/web"

        def envoy_saw_it() -> bool:
            return wanted in envoy.log_tail(200)

        await wait_for(envoy_saw_it, timeout=60, message="Envoy logging the PERMISSION_DENIED")
        assert plane.ads.proxy_status() == ()
        assert plane.tls.client_identities[WEB] >= 1
