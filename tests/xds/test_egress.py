"""Egress: ServiceEntry resolutions and the outbound traffic policy on the local platform
(dynamic forward proxy) and with capture (ORIGINAL_DST), by simulation over the golden case
``egress`` and directly on the generated protos."""

from __future__ import annotations

import dataclasses

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail import naming
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.testing.simulator import Request, Simulator
from mainsail.xds.generate import generate

from .cases import load_case, proxy_node

IP = "10.10.0.10"


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return _simulator(local=True)


def _simulator(*, local: bool) -> Simulator:
    case = load_case("egress")
    parsed = parse_documents(case.text, source="egress.yaml")
    assert parsed.ok
    node = proxy_node(case)
    if not local:
        node = dataclasses.replace(node, interception_mode="REDIRECT")
    return Simulator(generate(build_snapshot(parsed.resources), node))


def _proxy_call(sim: Simulator, authority: str) -> tuple[str | None, list[tuple[str, int]]]:
    result = sim.simulate(Request(listener=(IP, 15001), authority=authority))
    return result.cluster, [(e.address, e.port) for e in result.endpoints]


def test_a_name_for_an_ip_static_endpoints_with_locality(sim: Simulator) -> None:
    cluster, endpoints = _proxy_call(sim, "api.external.test")
    assert cluster == "outbound|80||api.external.test"
    assert sorted(endpoints) == [("192.0.2.10", 80), ("192.0.2.11", 80)]
    localities = {e.locality for e in sim.upstream(cluster).endpoints}
    assert localities == {"us-east/us-east-1a", "us-west/us-west-1a"}


def test_a_dns_name_elevated_into_the_mesh_resolves_its_endpoint(sim: Simulator) -> None:
    cluster, endpoints = _proxy_call(sim, "search.external.test:8080")
    assert cluster == "outbound|8080||search.external.test"
    assert endpoints == [("localhost", 18080)]
    assert sim.upstream(cluster).discovery_type == "envoy.clusters.dns"


def test_a_vip_for_tcp_gets_a_listener_that_dials_the_address(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, 5432)))
    assert result.cluster == "outbound|5432||db.external.test"
    assert [(e.address, e.port) for e in result.endpoints] == [("192.0.2.50", 5432)]
    # a CIDR without a single address has nowhere to dial when nothing is captured
    assert sim.simulate(Request(listener=(IP, 6379))).outcome == "no_listener"


def test_resolution_none_forwards_by_host_and_by_sni(sim: Simulator) -> None:
    cluster, _ = _proxy_call(sim, "www.external.test")
    assert cluster == "outbound|80||www.external.test"
    assert sim.upstream(cluster).discovery_type == "envoy.clusters.dynamic_forward_proxy"
    listener = sim.listener_for((IP, 443))
    assert listener is not None
    assert [f.name for f in listener.listener_filters] == ["envoy.filters.listener.tls_inspector"]
    (chain,) = listener.filter_chains
    assert [f.name for f in chain.filters] == [
        "envoy.filters.network.sni_dynamic_forward_proxy",
        "envoy.filters.network.tcp_proxy",
    ]


def test_workload_entries_selected_with_their_ports_and_locality_failover(sim: Simulator) -> None:
    cluster, _ = _proxy_call(sim, "legacy.vms.test")
    endpoints = {(e.address, e.port): e.priority for e in sim.upstream(cluster or "").endpoints}
    # vm-1 names the port (8081) and shares the proxy's zone; vm-2 falls back to targetPort
    assert endpoints == {("10.10.0.101", 8081): 0, ("10.10.0.102", 8080): 1}


def test_allow_any_uses_the_forward_proxy_and_its_filter(sim: Simulator) -> None:
    result = sim.simulate(Request(listener=(IP, 15001), authority="unknown.example.org:8080"))
    assert (result.virtual_host, result.cluster) == (
        naming.ALLOW_ANY_VHOST,
        naming.PASSTHROUGH_CLUSTER,
    )
    assert result.timeout is not None and not result.timeout  # disabled, as in Istio
    passthrough = sim.clusters[naming.PASSTHROUGH_CLUSTER]
    assert passthrough.cluster_type.name == "envoy.clusters.dynamic_forward_proxy"
    listener = sim.listener_for((IP, 15001))
    assert listener is not None
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    names = [f.name for f in manager.http_filters]
    assert names.index("envoy.filters.http.dynamic_forward_proxy") == len(names) - 2


def test_with_capture_passthrough_stays_original_dst() -> None:
    captured = _simulator(local=False)
    passthrough = captured.clusters[naming.PASSTHROUGH_CLUSTER]
    assert passthrough.type == cluster_pb2.Cluster.ORIGINAL_DST
    none = captured.clusters["outbound|443||www.external.test"]
    assert none.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert none.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED
