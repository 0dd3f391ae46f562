from __future__ import annotations

import pytest
import yaml

from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Deployment
from mainsail.platform import (
    PodSpec,
    PodSpecError,
    ProxyPorts,
    pod_name,
    pods_from_deployment,
    pods_from_deployments,
)


class FakeAllocator:
    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}
        self.ports: dict[tuple[str, int], int] = {}

    def address(self, pod_key: str) -> str:
        return self.addresses.setdefault(pod_key, f"127.99.0.{len(self.addresses) + 1}")

    def app_port(self, pod_key: str, container_port: int) -> int:
        return self.ports.setdefault((pod_key, container_port), 20000 + len(self.ports))


def deployment(text: str) -> Deployment:
    return Deployment.model_validate(yaml.safe_load(text))


REVIEWS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: shop}
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: reviews, version: v1}
      annotations: {sidecar.istio.io/foo: bar}
    spec:
      serviceAccountName: bookinfo-reviews
      containers:
      - name: reviews
        command: [python, -m, app]
        args: [--verbose]
        env: [{name: LOG_DIR, value: /tmp/logs}]
        ports: [{containerPort: 9080, name: http}]
"""

GATEWAY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
      annotations: {inject.istio.io/templates: gateway}
    spec:
      containers:
      - name: istio-proxy
        image: auto
        ports: [{containerPort: 8080}]
"""


def test_replicas_become_pods_with_stable_names_and_allocated_addresses() -> None:
    allocator = FakeAllocator()
    pods = pods_from_deployment(deployment(REVIEWS), allocator)
    assert [p.name for p in pods] == [
        pod_name("reviews-v1", "shop", 0),
        pod_name("reviews-v1", "shop", 1),
    ]
    first = pods[0]
    assert first.name.startswith("reviews-v1-") and first.name.endswith("-0")
    assert len(first.name.split("-")[-2]) == 5
    assert first.namespace == "shop"
    assert first.workload_name == "reviews-v1"
    assert first.ip == allocator.addresses[f"shop.{first.name}"]
    assert pods[1].ip != first.ip
    # The injector adds Istio's tlsMode label to sidecar pods.
    assert first.labels == {"app": "reviews", "version": "v1", "security.istio.io/tlsMode": "istio"}
    assert first.annotations == {"sidecar.istio.io/foo": "bar"}
    assert first.service_account == "bookinfo-reviews"
    assert first.proxy_type == "sidecar"
    (container,) = first.containers
    assert container.argv == ("python", "-m", "app", "--verbose")
    assert container.env == {"LOG_DIR": "/tmp/logs"}
    assert first.app_ports == {9080: allocator.ports[(f"shop.{first.name}", 9080)]}
    assert first.proxy_ports == ProxyPorts()


def test_pod_names_are_stable_and_distinct_per_namespace() -> None:
    assert pod_name("reviews-v1", "shop", 0) == pod_name("reviews-v1", "shop", 0)
    assert pod_name("reviews-v1", "shop", 0) != pod_name("reviews-v1", "other", 0)


def test_gateway_template_makes_a_router_pod_without_app() -> None:
    (pod,) = pods_from_deployment(deployment(GATEWAY), FakeAllocator())
    assert pod.proxy_type == "router"
    assert pod.containers == ()
    assert pod.app_ports == {}
    assert not pod.has_app
    assert pod.service_account == "default"


def test_service_target_ports_get_app_ports_too() -> None:
    service = Service.model_validate(
        yaml.safe_load(
            """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports:
  - {port: 9080, targetPort: http}
  - {port: 9443, targetPort: 9443}
  - {port: 7000}
"""
        )
    )
    other_namespace = service.model_copy(
        update={"metadata": service.metadata.model_copy(update={"namespace": "x"})}
    )
    pods = pods_from_deployments(
        [deployment(REVIEWS)], FakeAllocator(), services=[service, other_namespace]
    )
    assert set(pods[0].app_ports) == {9080, 9443, 7000}


def test_proxy_ports_are_passed_through() -> None:
    ports = ProxyPorts(admin=1, outbound=2, status=3, health=4, prometheus=5)
    (pod, _) = pods_from_deployment(deployment(REVIEWS), FakeAllocator(), proxy_ports=ports)
    assert pod.proxy_ports == ports


def test_container_without_command_is_an_error_with_a_path() -> None:
    bad = REVIEWS.replace("        command: [python, -m, app]\n        args: [--verbose]\n", "")
    with pytest.raises(PodSpecError) as error:
        pods_from_deployment(deployment(bad), FakeAllocator())
    assert error.value.path == "Deployment/shop/reviews-v1.spec.template.spec.containers[0].command"


def test_duplicate_container_port_is_an_error() -> None:
    bad = REVIEWS.replace(
        "ports: [{containerPort: 9080, name: http}]",
        "ports: [{containerPort: 9080}, {containerPort: 9080}]",
    )
    with pytest.raises(PodSpecError, match="declared twice"):
        pods_from_deployment(deployment(bad), FakeAllocator())


def test_pod_spec_json_round_trip() -> None:
    (pod, _) = pods_from_deployment(deployment(REVIEWS), FakeAllocator())
    assert PodSpec.from_json(pod.to_json()) == pod


def test_bookinfo_sample_converts() -> None:
    from importlib import resources

    text = (
        resources.files("mainsail.samples").joinpath("bookinfo/platform/bookinfo.yaml").read_text()
    )
    docs = [d for d in yaml.safe_load_all(text) if d]
    deployments = [Deployment.model_validate(d) for d in docs if d["kind"] == "Deployment"]
    services = [Service.model_validate(d) for d in docs if d["kind"] == "Service"]
    pods = pods_from_deployments(deployments, FakeAllocator(), services=services)
    assert len(pods) == len(deployments) >= 6
    assert all(p.containers and 9080 in p.app_ports for p in pods if p.proxy_type == "sidecar")


def test_sidecar_pods_get_istios_tls_mode_label_and_gateways_do_not() -> None:
    sidecar = pods_from_deployment(deployment(REVIEWS), FakeAllocator())[0]
    assert sidecar.labels["security.istio.io/tlsMode"] == "istio"
    own = REVIEWS.replace(
        "{app: reviews, version: v1}", "{app: reviews, security.istio.io/tlsMode: disabled}"
    )
    assert (
        pods_from_deployment(deployment(own), FakeAllocator())[0].labels[
            "security.istio.io/tlsMode"
        ]
        == "disabled"
    )  # a value the pod sets is kept, as the injector's template does
    gateway = pods_from_deployment(deployment(GATEWAY), FakeAllocator())[0]
    assert "security.istio.io/tlsMode" not in gateway.labels  # Istio's gateway template adds none
