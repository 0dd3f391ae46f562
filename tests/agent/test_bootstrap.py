from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mainsail import naming
from mainsail.agent import BootstrapOptions, ProxyPorts, ProxyWorkload, build_bootstrap
from mainsail.agent.bootstrap import bootstrap_json, node_cluster
from mainsail.agent.envoy_process import default_envoy_binary

GOLDEN = Path(__file__).parent / "golden"

SIDECAR = ProxyWorkload(
    name="reviews-v1-x7k2p-0",
    namespace="default",
    ip="127.128.0.7",
    workload_name="reviews-v1",
    labels={"version": "v1", "app": "reviews"},
    service_account="bookinfo-reviews",
    app_ports={9080: 40123},
)
ROUTER = ProxyWorkload(
    name="istio-ingressgateway-qz5rt-0",
    namespace="istio-system",
    ip="127.128.0.2",
    workload_name="istio-ingressgateway",
    labels={"istio": "ingressgateway"},
    proxy_type="router",
)
OPTIONS = BootstrapOptions(xds_host="127.0.0.1", xds_port=15010)


@pytest.mark.parametrize(("name", "workload"), [("sidecar", SIDECAR), ("router", ROUTER)])
def test_golden(name: str, workload: ProxyWorkload) -> None:
    path = GOLDEN / f"bootstrap_{name}.json"
    text = bootstrap_json(workload, OPTIONS)
    if os.environ.get("REFRESH_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), "bootstrap changed: review, then REFRESH_GOLDEN=1"


def test_node() -> None:
    node = build_bootstrap(SIDECAR, OPTIONS)["node"]
    parsed = naming.parse_node_id(node["id"])
    assert (parsed.proxy_type, parsed.ip, parsed.pod_name, parsed.namespace) == (
        "sidecar",
        "127.128.0.7",
        "reviews-v1-x7k2p-0",
        "default",
    )
    assert node["cluster"] == "reviews.default"
    meta = node["metadata"]
    assert meta["NAMESPACE"] == "default"
    assert meta["INSTANCE_IPS"] == "127.128.0.7"
    assert meta["LABELS"] == {"app": "reviews", "version": "v1"}
    assert meta["WORKLOAD_NAME"] == "reviews-v1"
    assert meta["SERVICE_ACCOUNT"] == "bookinfo-reviews"
    assert meta["INTERCEPTION_MODE"] == "NONE"
    assert meta["HTTP_PROXY_PORT"] == "15001"
    assert meta["MAINSAIL_APP_PORTS"] == {"9080": "40123"}
    assert meta["ISTIO_VERSION"] == OPTIONS.istio_version
    router = build_bootstrap(ROUTER, OPTIONS)["node"]
    assert router["id"].startswith("router~127.128.0.2~istio-ingressgateway-qz5rt-0.istio-system~")


def test_node_cluster_fallbacks() -> None:
    assert node_cluster(SIDECAR.model_copy(update={"labels": {}})) == "reviews-v1.default"
    assert node_cluster(SIDECAR.model_copy(update={"labels": {}, "workload_name": ""})) == (
        "istio-proxy"
    )


def test_ads_and_ports() -> None:
    ports = ProxyPorts(admin=1000, outbound=1001, status=1020, health=1021, prometheus=1090)
    workload = SIDECAR.model_copy(update={"proxy_ports": ports})
    boot = build_bootstrap(
        workload, BootstrapOptions(xds_host="localhost", xds_port=7777, xds_api_type="GRPC")
    )
    ads = boot["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "GRPC"
    assert ads["set_node_on_first_message_only"] is True
    assert boot["dynamic_resources"]["cds_config"]["initial_fetch_timeout"] == "0s"
    assert boot["dynamic_resources"]["lds_config"]["initial_fetch_timeout"] == "0s"
    assert boot["admin"]["address"]["socket_address"] == {
        "address": "127.128.0.7",
        "port_value": 1000,
    }
    clusters = {c["name"]: c for c in boot["static_resources"]["clusters"]}
    xds = clusters[naming.XDS_CLUSTER]
    assert xds["type"] == "STRICT_DNS"  # a host name, not an address
    endpoint = xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {"address": "localhost", "port_value": 7777}
    assert "http2_protocol_options" in json.dumps(xds["typed_extension_protocol_options"])
    agent = clusters["agent"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert agent["endpoint"]["address"]["socket_address"]["port_value"] == 1020
    listeners = [
        listener["address"]["socket_address"]["port_value"]
        for listener in boot["static_resources"]["listeners"]
    ]
    assert listeners == [1090, 1021]
    assert naming.SDS_CLUSTER not in clusters


def test_sds_cluster_when_a_socket_is_given(tmp_path: Path) -> None:
    boot = build_bootstrap(
        SIDECAR, BootstrapOptions(xds_host="127.0.0.1", xds_port=1, sds_socket=tmp_path / "s")
    )
    clusters = {c["name"]: c for c in boot["static_resources"]["clusters"]}
    assert naming.SDS_CLUSTER in clusters


@pytest.mark.parametrize("workload", [SIDECAR, ROUTER], ids=["sidecar", "router"])
def test_real_envoy_accepts_it(tmp_path: Path, workload: ProxyWorkload) -> None:
    path = tmp_path / "bootstrap.json"
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=15010, sds_socket=tmp_path / "sds")
    path.write_text(bootstrap_json(workload, options))
    result = subprocess.run(
        [default_envoy_binary(), "--mode", "validate", "-c", str(path), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout
    assert "deprecated" not in (result.stdout + result.stderr).lower()
