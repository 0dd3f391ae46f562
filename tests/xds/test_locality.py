"""Locality load balancing (istiod's ``loadbalancer`` package): priorities and weights per proxy."""

from __future__ import annotations

from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from mainsail.config.istio.destination_rule import (
    LoadBalancerSettings,
    LocalityDistribute,
    LocalityFailover,
    LocalityLoadBalancerSetting,
)
from mainsail.config.mesh import MeshConfig
from mainsail.registry.kube import locality_from_labels
from mainsail.xds.locality import (
    Locality,
    apply_locality_lb,
    locality_matches,
    locality_setting,
    wants_locality_weighted_config,
)

LOCALITIES = ["us-east/1a", "us-east/1b", "eu-west/1a", "ap-south/1a", ""]


def _assignment(localities: list[str]) -> endpoint_pb2.ClusterLoadAssignment:
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name="c")
    for index, text in enumerate(localities):
        group = assignment.endpoints.add(locality=Locality.parse(text).proto())
        group.load_balancing_weight.value = 1
        endpoint = endpoint_components_pb2.LbEndpoint()
        endpoint.endpoint.address.socket_address.address = f"10.0.0.{index}"
        endpoint.load_balancing_weight.value = 1
        group.lb_endpoints.append(endpoint)
    return assignment


def _priorities(
    setting: LocalityLoadBalancerSetting, failover: bool = True, proxy: str = "us-east/1a"
) -> dict[str, int]:
    assignment = _assignment(LOCALITIES)
    labels = [[{}] for _ in LOCALITIES]
    apply_locality_lb(assignment, labels, Locality.parse(proxy), {}, setting, failover)
    return {
        "/".join(p for p in (g.locality.region, g.locality.zone) if p): g.priority
        for g in assignment.endpoints
    }


def test_failover_orders_by_zone_then_region_then_elsewhere() -> None:
    assert _priorities(LocalityLoadBalancerSetting(enabled=True)) == {
        "us-east/1a": 0,
        "us-east/1b": 1,  # same region (istiod's 2, renumbered without gaps)
        "eu-west/1a": 2,
        "ap-south/1a": 2,
        "": 2,
    }


def test_failover_rule_pushes_regions_it_does_not_name_further_down() -> None:
    setting = LocalityLoadBalancerSetting(
        failover=(LocalityFailover(from_="us-east", to="eu-west"),)
    )
    assert _priorities(setting) == {
        "us-east/1a": 0,
        "us-east/1b": 1,
        "eu-west/1a": 2,
        "ap-south/1a": 3,
        "": 3,
    }


def test_without_outlier_detection_there_is_no_failover() -> None:
    assert set(_priorities(LocalityLoadBalancerSetting(), failover=False).values()) == {0}


def test_distribute_weights_and_drops_unnamed_localities() -> None:
    setting = LocalityLoadBalancerSetting(
        distribute=(LocalityDistribute(from_="us-east/*", to={"us-east/1a": 70, "eu-west/*": 30}),)
    )
    assignment = _assignment(LOCALITIES)
    apply_locality_lb(
        assignment, [[{}] for _ in LOCALITIES], Locality.parse("us-east/1b"), {}, setting, False
    )
    found = {
        g.locality.region + "/" + g.locality.zone: (
            g.load_balancing_weight.value,
            len(g.lb_endpoints),
        )
        for g in assignment.endpoints
    }
    assert found["us-east/1a"] == (70, 1)
    assert found["eu-west/1a"] == (30, 1)
    assert found["us-east/1b"][1] == found["ap-south/1a"][1] == found["/"][1] == 0


def test_failover_priority_labels_split_localities_into_tiers() -> None:
    assignment = _assignment(["us-east/1a", "us-east/1a"])
    # two groups in one locality; the second endpoint's labels differ from the proxy's
    labels = [[{"network": "n1", "version": "v1"}], [{"network": "n2", "version": "v1"}]]
    setting = LocalityLoadBalancerSetting(failover_priority=("network", "version=v2"))
    apply_locality_lb(
        assignment, labels, Locality.parse("us-east/1a"), {"network": "n1"}, setting, True
    )
    assert [g.priority for g in assignment.endpoints] == [0, 1]


def test_locality_matches_wildcards_below_the_region() -> None:
    here = Locality.parse("us-east/1a/rack-1")
    assert locality_matches("us-east", here)
    assert locality_matches("us-east/*", here)
    assert locality_matches("*", here)
    assert not locality_matches("us-east/1b", here)


def test_rule_setting_wins_and_can_disable_the_mesh_default() -> None:
    mesh = MeshConfig()
    assert locality_setting(mesh, None) == mesh.locality_lb_setting
    off = LoadBalancerSettings(locality_lb_setting=LocalityLoadBalancerSetting(enabled=False))
    assert locality_setting(mesh, off) is None
    failover = LocalityLoadBalancerSetting(failover=(LocalityFailover(from_="a", to="b"),))
    assert wants_locality_weighted_config(failover, failover_enabled=True)
    assert not wants_locality_weighted_config(failover, failover_enabled=False)
    assert not wants_locality_weighted_config(mesh.locality_lb_setting, failover_enabled=True)


def test_pod_locality_from_topology_labels() -> None:
    assert (
        locality_from_labels(
            {
                "topology.kubernetes.io/region": "r",
                "topology.kubernetes.io/zone": "z",
                "topology.istio.io/subzone": "s",
            }
        )
        == "r/z/s"
    )
    assert locality_from_labels({"topology.kubernetes.io/region": "r"}) == "r"
    assert locality_from_labels({"istio-locality": "r.z"}) == "r/z"
    assert locality_from_labels({}) == ""
