"""naming.py: every build_* has a parse_* that inverts it, and the formats are Istio's."""

from __future__ import annotations

import pytest

from mainsail import naming

CLUSTER_KEYS = [
    naming.ClusterKey(direction="outbound", port=9080, subset="v1", host="reviews.default.svc.cluster.local"),
    naming.ClusterKey(direction="outbound", port=80, subset="", host="api.example.com"),
    naming.ClusterKey(direction="outbound", port=1, subset="canary-2", host="*.wild.example.com"),
    naming.ClusterKey(direction="inbound", port=8080),
    naming.ClusterKey(direction="inbound", port=65535),
]  # fmt: skip


@pytest.mark.parametrize("key", CLUSTER_KEYS)
def test_cluster_name_round_trip(key: naming.ClusterKey) -> None:
    assert naming.parse_cluster_name(naming.build_cluster_name(key)) == key


def test_cluster_name_formats() -> None:
    assert (
        naming.build_outbound_cluster(9080, "reviews.default.svc.cluster.local", "v1")
        == "outbound|9080|v1|reviews.default.svc.cluster.local"
    )
    assert naming.build_outbound_cluster(80, "a.com") == "outbound|80||a.com"
    assert naming.build_inbound_cluster(8080) == "inbound|8080||"
    assert naming.build_alt_stat_name("outbound|80||a.com") == "outbound|80||a.com;"


@pytest.mark.parametrize(
    "name",
    [
        naming.PASSTHROUGH_CLUSTER,
        naming.BLACKHOLE_CLUSTER,
        "outbound|x||a.com",
        "sideways|80||a.com",
        "outbound|80|a.com",
        "",
    ],
)
def test_other_cluster_names_do_not_parse(name: str) -> None:
    assert naming.parse_cluster_name(name) is None


@pytest.mark.parametrize(
    ("bind", "port"), [("0.0.0.0", 9080), ("10.96.12.7", 3306), ("127.0.0.1", 1), ("::1", 80)]
)
def test_listener_name_round_trip(bind: str, port: int) -> None:
    name = naming.build_listener_name(bind, port)
    assert name == f"{bind}_{port}"
    assert naming.parse_listener_name(name) == (bind, port)


@pytest.mark.parametrize("name", ["virtualOutbound", "0.0.0.0_", "0.0.0.0_http"])
def test_other_listener_names_do_not_parse(name: str) -> None:
    assert naming.parse_listener_name(name) is None


@pytest.mark.parametrize(
    ("host", "port"),
    [("reviews.default.svc.cluster.local", 9080), ("*.example.com", 80), ("a", 1)],
)
def test_virtual_host_name_round_trip(host: str, port: int) -> None:
    name = naming.build_virtual_host_name(host, port)
    assert name == f"{host}:{port}"
    assert naming.parse_virtual_host_name(name) == (host, port)


@pytest.mark.parametrize("name", [naming.ALLOW_ANY_VHOST, naming.BLOCK_ALL_VHOST, "a:b"])
def test_other_virtual_host_names_do_not_parse(name: str) -> None:
    assert naming.parse_virtual_host_name(name) is None


NODES = [
    naming.NodeId(proxy_type="sidecar", ip="10.1.2.3", pod_name="productpage-v1-x", namespace="default"),
    naming.NodeId(proxy_type="router", ip="127.0.0.1", pod_name="gw.with.dots", namespace="istio-system"),
    naming.NodeId(proxy_type="sidecar", ip="::1", pod_name="p", namespace="ns", domain="corp.local"),
]  # fmt: skip


@pytest.mark.parametrize("node", NODES)
def test_node_id_round_trip(node: naming.NodeId) -> None:
    assert naming.parse_node_id(naming.build_node_id(node)) == node


def test_node_id_format() -> None:
    node = NODES[0]
    assert (
        naming.build_node_id(node)
        == "sidecar~10.1.2.3~productpage-v1-x.default~default.svc.cluster.local"
    )
    assert node.proxy_id == "productpage-v1-x.default"


@pytest.mark.parametrize(
    "text",
    [
        "sidecar~10.1.2.3~pod.ns",  # three parts
        "waypoint~10.1.2.3~pod.ns~ns.svc.cluster.local",  # unknown type
        "sidecar~10.1.2.3~podonly~ns.svc.cluster.local",  # no namespace
        "sidecar~10.1.2.3~.ns~ns.svc.cluster.local",
    ],
)
def test_bad_node_ids_raise(text: str) -> None:
    with pytest.raises(ValueError, match="node id"):
        naming.parse_node_id(text)


def test_other_formats() -> None:
    assert naming.build_outbound_route_name(9080) == "9080"
    assert naming.build_gateway_http_route_name(8080) == "http.8080"
    assert naming.build_inbound_virtual_host_name(9080) == "inbound|http|9080"
    assert naming.build_stat_prefix("outbound", "0.0.0.0_80") == "outbound_0.0.0.0_80"
    assert naming.build_service_fqdn("a", "b") == "a.b.svc.cluster.local"
    assert naming.build_spiffe_id("td", "ns", "sa") == "spiffe://td/ns/ns/sa/sa"


def test_push_order_and_type_urls() -> None:
    assert [naming.SHORT_TYPE_NAMES[t] for t in naming.PUSH_ORDER] == [
        "CDS",
        "EDS",
        "LDS",
        "RDS",
        "SDS",
    ]
    assert all(t.startswith("type.googleapis.com/envoy.") for t in naming.PUSH_ORDER)


def test_file_secret_names_round_trip() -> None:
    from mainsail import naming

    name = naming.build_file_cert_secret("/etc/certs/cert.pem", "/etc/certs/key.pem")
    assert naming.parse_file_cert_secret(name) == ("/etc/certs/cert.pem", "/etc/certs/key.pem")
    assert naming.parse_file_root_secret(naming.build_file_root_secret("system")) == "system"
    assert naming.parse_file_root_secret(naming.build_file_root_secret("/ca.pem")) == "/ca.pem"
    for other in ("default", "ROOTCA", "file-cert:/only-cert", "file-root:", "kubernetes://x"):
        assert naming.parse_file_cert_secret(other) is None
        assert naming.parse_file_root_secret(other) is None
