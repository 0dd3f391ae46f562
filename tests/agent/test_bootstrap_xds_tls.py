"""The ``xds-grpc`` bootstrap cluster over TLS (the control plane's 15012), as Istio's bootstrap
had it while Envoy dialled istiod itself: SNI and a DNS SAN check on ``ISTIOD_SAN``, the pod's
SVID as client certificate and ``ROOTCA`` as trust anchor, both from the agent's SDS."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mainsail import naming
from mainsail.agent import BootstrapOptions, ProxyWorkload, build_bootstrap
from mainsail.agent.bootstrap import bootstrap_json
from mainsail.agent.envoy_process import default_envoy_binary
from mainsail.ca.serving import ISTIOD_SAN

POD = ProxyWorkload(
    name="ratings-v1-x7k2p-0",
    namespace="default",
    ip="127.128.0.9",
    service_account="bookinfo-ratings",
)


def xds_cluster(options: BootstrapOptions) -> dict[str, Any]:
    clusters = build_bootstrap(POD, options)["static_resources"]["clusters"]
    found: dict[str, Any] = next(c for c in clusters if c["name"] == naming.XDS_CLUSTER)
    return found


def test_plaintext_by_default(tmp_path: Path) -> None:
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=15010, sds_socket=tmp_path / "s")
    assert "transport_socket" not in xds_cluster(options)


def test_tls_to_the_control_plane(tmp_path: Path) -> None:
    options = BootstrapOptions(
        xds_host="127.0.0.1", xds_port=15012, sds_socket=tmp_path / "s", xds_tls_san=ISTIOD_SAN
    )
    socket = xds_cluster(options)["transport_socket"]
    config = socket["typed_config"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    assert config["@type"].endswith("tls.v3.UpstreamTlsContext")
    assert config["sni"] == ISTIOD_SAN
    common = config["common_tls_context"]
    assert common["alpn_protocols"] == ["h2"]
    (cert,) = common["tls_certificate_sds_secret_configs"]
    assert cert["name"] == naming.WORKLOAD_SECRET
    sds_services = cert["sds_config"]["api_config_source"]["grpc_services"]
    assert sds_services == [{"envoy_grpc": {"cluster_name": naming.SDS_CLUSTER}}]
    validation = common["combined_validation_context"]
    assert validation["validation_context_sds_secret_config"]["name"] == naming.ROOT_CA_SECRET
    assert validation["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": ISTIOD_SAN}}
    ]


def test_tls_needs_the_sds_socket() -> None:
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=15012, xds_tls_san=ISTIOD_SAN)
    with pytest.raises(ValueError, match="SDS socket"):
        build_bootstrap(POD, options)


def test_real_envoy_accepts_it(tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.json"
    options = BootstrapOptions(
        xds_host="127.0.0.1", xds_port=15012, sds_socket=tmp_path / "sds", xds_tls_san=ISTIOD_SAN
    )
    path.write_text(bootstrap_json(POD, options))
    result = subprocess.run(
        [default_envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deprecated" not in (result.stdout + result.stderr).lower()
