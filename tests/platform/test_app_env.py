from __future__ import annotations

import os
import sys

from mainsail.platform import ContainerPortSpec, ContainerSpec, PodSpec, ProxyPorts, ServiceEnv
from mainsail.platform.app_env import build_app_env


def pod() -> PodSpec:
    container = ContainerSpec(
        name="app",
        command=("python",),
        env={"GREETING": "hi", "PORT": "overridden"},
        ports=(ContainerPortSpec(container_port=9080), ContainerPortSpec(container_port=9090)),
    )
    return PodSpec(
        name="reviews-v1-abcde-0",
        namespace="shop",
        ip="127.66.1.2",
        service_account="bookinfo-reviews",
        containers=(container,),
        app_ports={9080: 31000, 9090: 31001},
        proxy_ports=ProxyPorts(outbound=41001),
        env={"EXTRA": "1"},
    )


def test_app_environment() -> None:
    p = pod()
    env = build_app_env(
        p,
        p.containers[0],
        base_env={"PATH": "/usr/bin", "HOME": "/home/x", "HTTPS_PROXY": "http://corp:3128"},
        services=[ServiceEnv(name="mongo-db", host="127.66.1.2", port=27017, port_name="mongo")],
    )
    assert env["GREETING"] == "hi"
    assert env["EXTRA"] == "1"
    assert env["PORT"] == "31000"
    assert env["PORT_9080"] == "31000"
    assert env["PORT_9090"] == "31001"
    assert env["INSTANCE_IP"] == env["POD_IP"] == "127.66.1.2"
    assert env["POD_NAME"] == "reviews-v1-abcde-0"
    assert env["POD_NAMESPACE"] == "shop"
    assert env["SERVICE_ACCOUNT"] == "bookinfo-reviews"
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://127.66.1.2:41001"
    assert env["NO_PROXY"] == env["no_proxy"] == ""
    assert "HTTPS_PROXY" not in env
    assert env["HOME"] == "/home/x"
    assert env["MONGO_DB_SERVICE_HOST"] == "127.66.1.2"
    assert env["MONGO_DB_SERVICE_PORT"] == "27017"
    assert env["MONGO_DB_SERVICE_PORT_MONGO"] == "27017"
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
