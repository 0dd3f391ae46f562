"""BookInfo as a snapshot for simulation tests: the sample manifests plus one Pod per Deployment.

Pods get addresses ``<network>.<n>`` in manifest order (the ingress gateway first), so a test
that runs a real Envoy can move the whole mesh onto a random loopback /24. The productpage
sidecar and the ingress gateway are the proxies the tests look through.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from mainsail.config.base import Resource
from mainsail.config.kube.workloads import Deployment
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode

NETWORK = "10.20.0"
HTTP_PROXY_PORT = 15080
FQDN = "{}.default.svc.cluster.local"


def sample(path: str) -> str:
    """A file under ``mainsail.samples``, e.g. ``bookinfo/networking/virtual-service-all-v1.yaml``."""
    return resources.files("mainsail.samples").joinpath(path).read_text(encoding="utf-8")


def cluster(service: str, subset: str = "", port: int = 9080) -> str:
    return f"outbound|{port}|{subset}|{FQDN.format(service)}"


def _pods(text: str, network: str) -> str:
    parsed = parse_documents(text, source="manifests")
    assert parsed.ok, [str(e) for e in parsed.errors]
    documents = []
    deployments = [r for r in parsed.resources if isinstance(r, Deployment)]
    for index, deployment in enumerate(deployments, start=10):
        template = deployment.spec.template
        ports = [
            {"containerPort": p.container_port}
            for container in template.spec.containers
            for p in container.ports
        ]
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{deployment.name}-0",
                    "namespace": deployment.namespace,
                    "labels": dict(template.metadata.labels),
                },
                "spec": {"containers": [{"name": "app", "ports": ports}]},
                "status": {"podIP": f"{network}.{index}"},
            }
        )
    return yaml.safe_dump_all(documents)


@dataclass(frozen=True, slots=True)
class BookInfo:
    snapshot: MeshSnapshot
    network: str

    def ip(self, pod: str) -> str:
        found = next(w for w in self.snapshot.workloads if w.name == pod)
        return found.address

    def productpage(self) -> ProxyNode:
        """The productpage-v1 sidecar on the local platform (HTTP proxy, no capture)."""
        ip = self.ip("productpage-v1-0")
        return ProxyNode(
            node_id=f"sidecar~{ip}~productpage-v1-0.default~default.svc.cluster.local",
            proxy_type="sidecar",
            ip=ip,
            pod_name="productpage-v1-0",
            namespace="default",
            labels=(("app", "productpage"), ("version", "v1")),
            interception_mode="NONE",
            http_proxy_port=HTTP_PROXY_PORT,
            app_ports=((9080, 19080),),
        )

    def gateway(self) -> ProxyNode:
        ip = self.ip("istio-ingressgateway-0")
        return ProxyNode(
            node_id=f"router~{ip}~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local",
            proxy_type="router",
            ip=ip,
            pod_name="istio-ingressgateway-0",
            namespace="istio-system",
            labels=(("app", "istio-ingressgateway"), ("istio", "ingressgateway")),
            interception_mode="NONE",
        )


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[Resource, ...]:
    """Parsed once per text: pure-Python YAML is most of a simulation test's time."""
    parsed = parse_documents(text, source="bookinfo")
    assert parsed.ok, [str(e) for e in parsed.errors]
    return tuple(parsed.resources)


@functools.lru_cache(maxsize=4)
def _platform(network: str) -> tuple[Resource, ...]:
    manifests = sample("ingress/istio-ingressgateway.yaml") + "\n---\n"
    manifests += sample("bookinfo/platform/bookinfo.yaml")
    return _parsed(manifests) + _parsed(_pods(manifests, network))


def bookinfo(
    *networking: str, extra: str = "", network: str = NETWORK, mesh: MeshConfig | None = None
) -> BookInfo:
    """BookInfo plus the ingress gateway, the given ``bookinfo/networking/*.yaml`` samples and
    ``extra`` YAML."""
    found = list(_platform(network))
    for name in networking:
        found += _parsed(sample(f"bookinfo/networking/{name}"))
    if extra:
        found += _parsed(extra)
    return BookInfo(build_snapshot(found, mesh), network)
