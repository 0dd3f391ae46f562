"""Golden cases: mesh YAML under ``golden/cases`` → the ProxyConfig one proxy gets.

Each case is ``golden/cases/<name>.yaml`` on top of ``golden/cases/_base.yaml``. The proxy under
test is the sidecar ``client-1`` (10.10.0.10), or the router ``istio-ingressgateway-1``
(10.10.0.20) when the case starts with ``# proxy: router``; ``# telemetry: on`` in the first document turns
Istio's metrics on (off elsewhere). Its ``ProxyNode`` is read back from
the node the agent's real bootstrap announces, so the golden files show exactly what a proxy of
the local platform receives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envoy.config.core.v3 import base_pb2
from google.protobuf import json_format

from mainsail import naming
from mainsail.ads.node import proxy_node_from_envoy
from mainsail.agent.bootstrap import BootstrapOptions, build_bootstrap
from mainsail.agent.workload import ProxyPorts, ProxyWorkload
from mainsail.config.mesh import DefaultProviders, MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.generate import generate
from mainsail.xds.resources import ProxyConfig

GOLDEN = Path(__file__).parent / "golden"
CASES_DIR = GOLDEN / "cases"
BASE_NETWORK = "10.10.0"
SIDECAR_HOST = 10
ROUTER_HOST = 20
# ``defaultProviders.metrics`` without ``prometheus``: no Istio metrics (access logs are off by
# default).
_NO_TELEMETRY = MeshConfig(default_providers=DefaultProviders(metrics=("none",)))
# Telemetry cases also log (Istio's demo profile: ``accessLogFile: /dev/stdout``).
_TELEMETRY = {
    "TEXT": MeshConfig(access_log_file="/dev/stdout"),
    "JSON": MeshConfig(access_log_file="/dev/stdout", access_log_encoding="JSON"),
}
# ``# tracing: zipkin|opentelemetry`` cases: metrics off, the named tracer at 10 % sampling (a
# Zipkin collector outside the mesh by IP; an OTLP/HTTP collector that is a mesh service).
_TRACING_PROVIDERS = {
    "zipkin": {"name": "zipkin", "zipkin": {"service": "10.10.9.9", "port": 9411}},
    "opentelemetry": {
        "name": "otel",
        "opentelemetry": {
            "service": "otel-collector.observability.svc.cluster.local",
            "port": 4318,
            "maxTagLength": 99,
            "http": {"path": "/v1/traces"},
        },
    },
}
FILES = {"CDS": "cds.json", "EDS": "eds.json", "LDS": "lds.json", "RDS": "rds.json"}


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    text: str

    @property
    def proxy_type(self) -> str:
        return "router" if self.text.startswith("# proxy: router") else "sidecar"

    @property
    def telemetry(self) -> bool:
        """Istio's metrics and access logs only in cases that say ``# telemetry: on`` (they
        add thousands of lines of label formats to every listener)."""
        return "# telemetry: on" in self.text.split("\n---", 1)[0]

    @property
    def tracing(self) -> str:
        head = self.text.split("\n---", 1)[0]
        return next((k for k in _TRACING_PROVIDERS if f"# tracing: {k}" in head), "")

    @property
    def access_log_encoding(self) -> str:
        return "JSON" if "# access log: JSON" in self.text.split("\n---", 1)[0] else "TEXT"


def case_names() -> list[str]:
    return sorted(p.stem for p in CASES_DIR.glob("*.yaml") if not p.name.startswith("_"))


def load_case(name: str) -> Case:
    base = (CASES_DIR / "_base.yaml").read_text()
    return Case(name, (CASES_DIR / f"{name}.yaml").read_text() + "\n---\n" + base)


def workload(case: Case, network: str = BASE_NETWORK) -> ProxyWorkload:
    if case.proxy_type == "router":
        return ProxyWorkload(
            name="istio-ingressgateway-1",
            namespace="istio-system",
            ip=f"{network}.{ROUTER_HOST}",
            labels={"istio": "ingressgateway", "app": "istio-ingressgateway"},
            proxy_type="router",
        )
    return ProxyWorkload(
        name="client-1",
        namespace="default",
        ip=f"{network}.{SIDECAR_HOST}",
        labels={"app": "client", "version": "v1"},
        app_ports={8080: 18080, 9001: 19001},
        proxy_ports=ProxyPorts(),
    )


def bootstrap_for(
    case: Case, xds_port: int, network: str = BASE_NETWORK, sds_socket: Path | None = None
) -> dict[str, Any]:
    """The agent's bootstrap; with ``sds_socket`` (as every pod gets) the ``sds-grpc`` cluster
    that the mTLS contexts fetch secrets from (Envoy refuses an SDS config naming a cluster its
    bootstrap lacks)."""
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=xds_port, sds_socket=sds_socket)
    return build_bootstrap(workload(case, network), options)


def proxy_node(case: Case, network: str = BASE_NETWORK) -> ProxyNode:
    node = json_format.ParseDict(bootstrap_for(case, 15010, network)["node"], base_pb2.Node())
    return proxy_node_from_envoy(node)


def generate_case(case: Case, network: str = BASE_NETWORK) -> ProxyConfig:
    """The case's ProxyConfig, with the pod network moved to ``network`` (``a.b.c``)."""
    text = case.text.replace(f"{BASE_NETWORK}.", f"{network}.")
    parsed = parse_documents(text, source=f"{case.name}.yaml")
    assert parsed.ok, [str(e) for e in parsed.errors]
    mesh = _TELEMETRY.get(case.access_log_encoding) if case.telemetry else _NO_TELEMETRY
    if case.tracing:
        provider = _TRACING_PROVIDERS[case.tracing]
        mesh = MeshConfig.model_validate(
            {
                "defaultProviders": {"metrics": ["none"], "tracing": [provider["name"]]},
                "extensionProviders": [provider],
                "defaultConfig": {"tracing": {"sampling": 10}},
            }
        )
    return generate(build_snapshot(parsed.resources, mesh=mesh), proxy_node(case, network))


def as_json(config: ProxyConfig) -> dict[str, str]:
    """Per xDS short name: the resources as sorted JSON, keyed by resource name."""
    result = {}
    for type_url, short in naming.SHORT_TYPE_NAMES.items():
        if short not in FILES:
            continue
        resources = {
            name: json_format.MessageToDict(resource.body)
            for name, resource in sorted(config.of_type(type_url).items())
        }
        result[short] = json.dumps(resources, indent=2, sort_keys=True) + "\n"
    return result
