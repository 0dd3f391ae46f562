"""Kubernetes Service + Pod → MeshService and endpoints (named target ports, selectors, namespaces)."""

from __future__ import annotations

from mainsail.config.kube.service import Service
from mainsail.config.kube.workloads import Pod
from mainsail.config.parse import parse_documents
from mainsail.registry.kube import endpoints_from_kube, service_from_kube, workload_from_pod
from mainsail.registry.model import Resolution, Workload
from mainsail.registry.protocol import Protocol

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {team: a}
  annotations: {networking.istio.io/exportTo: "., istio-system"}
spec:
  clusterIP: 10.96.1.1
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http-alt}
  - {name: grpc, port: 9090, targetPort: 19090}
  - {name: metrics, port: 9100, targetPort: "9101"}
  - {name: tcp-raw, port: 7000}
"""


def _service(text: str = SERVICE) -> Service:
    (resource,) = parse_documents(text).resources
    assert isinstance(resource, Service)
    return resource


def _pod(name: str, namespace: str, ip: str | None, labels: str, ports: str = "[]") -> Workload:
    text = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {labels}}}
spec:
  serviceAccountName: web-sa
  containers: [{{name: app, ports: {ports}}}]
status: {{podIP: {ip or '""'}}}
"""
    (resource,) = parse_documents(text).resources
    assert isinstance(resource, Pod)
    workload = workload_from_pod(resource)
    assert workload is not None
    return workload


def test_service_conversion() -> None:
    service = service_from_kube(_service(), "example.org")
    assert service.hostname == "web.shop.svc.example.org"
    assert service.addresses == ("10.96.1.1",)
    assert service.resolution is Resolution.CLIENT_SIDE_LB
    assert service.export_to == frozenset({".", "istio-system"})
    assert service.labels == (("team", "a"),)
    assert [(p.name, p.port, p.protocol, p.target_port) for p in service.ports] == [
        ("http", 80, Protocol.HTTP, "http-alt"),
        ("grpc", 9090, Protocol.GRPC, 19090),
        ("metrics", 9100, Protocol.UNSUPPORTED, "9101"),
        ("tcp-raw", 7000, Protocol.TCP, None),
    ]


def test_headless_service_is_passthrough() -> None:
    text = SERVICE.replace("clusterIP: 10.96.1.1", "clusterIP: None")
    service = service_from_kube(_service(text))
    assert service.resolution is Resolution.PASSTHROUGH and service.addresses == ()


def test_unnamed_port_and_default_export() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {ports: [{port: 3306}]}
"""
    service = service_from_kube(_service(text))
    assert service.namespace == "default" and service.export_to == frozenset({"*"})
    (port,) = service.ports
    assert (port.name, port.protocol) == ("3306", Protocol.TCP)


def test_pod_without_address_is_no_workload() -> None:
    (pod,) = parse_documents(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n"
    ).resources
    assert isinstance(pod, Pod)
    assert workload_from_pod(pod) is None


def test_endpoints_follow_selector_namespace_and_named_ports() -> None:
    selected = _pod(
        "web-1",
        "shop",
        "10.0.0.1",
        "{app: web, version: v1}",
        "[{name: http-alt, containerPort: 8080}]",
    )
    no_named_port = _pod("web-2", "shop", "10.0.0.2", "{app: web}")
    other_namespace = _pod("web-3", "other", "10.0.0.3", "{app: web}")
    other_app = _pod("api-1", "shop", "10.0.0.4", "{app: api}")
    assert selected.service_account == "web-sa"
    assert selected.named_ports == (("http-alt", 8080),)
    service = _service()
    mesh_service = service_from_kube(service)
    endpoints = endpoints_from_kube(
        service, mesh_service, [selected, no_named_port, other_namespace, other_app]
    )
    found = {(e.address, e.service_port, e.port) for e in endpoints}
    assert found == {
        ("10.0.0.1", 80, 8080),  # named target port resolved per pod
        ("10.0.0.1", 9090, 19090),
        ("10.0.0.1", 9100, 9101),  # numeric string target port
        ("10.0.0.1", 7000, 7000),  # no target port: the service port
        # web-2 has no port named http-alt: no endpoint on port 80
        ("10.0.0.2", 9090, 19090),
        ("10.0.0.2", 9100, 9101),
        ("10.0.0.2", 7000, 7000),
    }
    assert all(e.hostname == "web.shop.svc.cluster.local" for e in endpoints)


def test_service_without_selector_has_no_endpoints() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {ports: [{port: 80}]}\n"
    service = _service(text)
    workload = _pod("any", "default", "10.0.0.9", "{app: x}")
    assert endpoints_from_kube(service, service_from_kube(service), [workload]) == ()
