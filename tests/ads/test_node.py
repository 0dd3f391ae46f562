from __future__ import annotations

from typing import Any

import pytest
from envoy.config.core.v3 import base_pb2
from google.protobuf import json_format

from mainsail.ads.errors import InvalidNodeError
from mainsail.ads.node import proxy_node_from_envoy

NODE_ID = "sidecar~10.1.2.3~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local"


def node(node_id: str = NODE_ID, **metadata: Any) -> base_pb2.Node:
    message = base_pb2.Node(id=node_id, cluster="reviews.bookinfo")
    json_format.ParseDict(metadata, message.metadata)
    return message


def test_istio_metadata() -> None:
    proxy = proxy_node_from_envoy(
        node(
            NAMESPACE="bookinfo",
            INSTANCE_IPS="127.0.0.9,fd00::9",
            LABELS={"app": "reviews", "version": "v1"},
            SERVICE_ACCOUNT="bookinfo-reviews",
            WORKLOAD_NAME="reviews-v1",
            INTERCEPTION_MODE="NONE",
            HTTP_PROXY_PORT="15080",
            MAINSAIL_APP_PORTS={"9080": 19080},
            CLUSTER_ID="Kubernetes",
            UNRELATED="ignored",
        )
    )
    assert proxy.proxy_id == "reviews-v1-abc.bookinfo"
    assert proxy.ip == "127.0.0.9" and proxy.proxy_type == "sidecar"
    assert proxy.labels == (("app", "reviews"), ("version", "v1"))
    assert proxy.service_account == "bookinfo-reviews" and proxy.workload_name == "reviews-v1"
    assert proxy.interception_mode == "NONE" and proxy.http_proxy_port == 15080
    assert proxy.app_ports == ((9080, 19080),)
    assert proxy.extra == (("CLUSTER_ID", "Kubernetes"),)
    hash(proxy)  # a cache key


def test_defaults_and_json_app_ports() -> None:
    proxy = proxy_node_from_envoy(node(MAINSAIL_APP_PORTS='{"80": "8080"}'))
    assert proxy.ip == "10.1.2.3" and proxy.namespace == "bookinfo"
    assert proxy.interception_mode == "REDIRECT" and proxy.http_proxy_port is None
    assert proxy.app_ports == ((80, 8080),)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (base_pb2.Node(), "node.id"),
        (node("sidecar~1.2.3.4~nonamespace~x"), "node.id"),
        (node("sidecar~not-an-ip~p.ns~ns.svc.cluster.local"), "node.id"),
        (node(NAMESPACE="other"), "node.metadata.NAMESPACE"),
        (node(INSTANCE_IPS="nope"), "node.metadata.INSTANCE_IPS"),
        (node(LABELS={"app": 3}), "node.metadata.LABELS.app"),
        (node(INTERCEPTION_MODE="MAGIC"), "node.metadata.INTERCEPTION_MODE"),
        (node(HTTP_PROXY_PORT="99999"), "node.metadata.HTTP_PROXY_PORT"),
        (node(HTTP_PROXY_PORT=15080), "node.metadata.HTTP_PROXY_PORT"),
        (node(MAINSAIL_APP_PORTS="[1]"), "node.metadata.MAINSAIL_APP_PORTS"),
        (node(MAINSAIL_APP_PORTS={"x": 1}), "node.metadata.MAINSAIL_APP_PORTS.x"),
    ],
)
def test_bad_nodes_name_the_field(message: base_pb2.Node, field: str) -> None:
    with pytest.raises(InvalidNodeError) as caught:
        proxy_node_from_envoy(message)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)
