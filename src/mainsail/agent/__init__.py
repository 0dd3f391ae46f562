"""The node agent: Envoy bootstrap, Envoy lifecycle (start, adopt, drain, restart), readiness,
and each pod's identity (SVID from the mesh CA, served to its Envoy over SDS).

Public API: ``run_node_agent``, ``NodeAgent``, ``NodeAgentSettings``, ``build_bootstrap``,
``BootstrapOptions``, ``EnvoyProcess``, ``EnvoyAdmin``, ``StatusServer``, ``ProxyWorkload``,
``ProxyPorts``, ``AgentLayout``, ``WorkloadIdentity``, ``CertificateSigner``, ``Svid``,
``SdsServer``, ``PodIdentity``.
"""

from mainsail.agent.admin import EnvoyAdmin
from mainsail.agent.bootstrap import (
    AGENT_CLUSTER,
    BootstrapOptions,
    bootstrap_json,
    build_bootstrap,
    node_cluster,
    node_id,
    node_metadata,
)
from mainsail.agent.envoy_process import EnvoyProcess, EnvoyStatus, StopReport
from mainsail.agent.errors import (
    AgentError,
    CaUnreachable,
    CsrRefused,
    EnvoyStartError,
    PodFileError,
    SdsError,
    SvidError,
)
from mainsail.agent.identity import CertificateSigner, WorkloadIdentity
from mainsail.agent.layout import AgentLayout
from mainsail.agent.node_agent import NodeAgent, run_node_agent
from mainsail.agent.pod_identity import PodIdentity
from mainsail.agent.sds import SdsServer
from mainsail.agent.settings import NodeAgentSettings
from mainsail.agent.status_server import StatusServer
from mainsail.agent.svid import Svid
from mainsail.agent.workload import ProxyPorts, ProxyWorkload, load_workload

__all__ = [
    "AGENT_CLUSTER",
    "AgentError",
    "AgentLayout",
    "BootstrapOptions",
    "CaUnreachable",
    "CertificateSigner",
    "CsrRefused",
    "EnvoyAdmin",
    "EnvoyProcess",
    "EnvoyStartError",
    "EnvoyStatus",
    "NodeAgent",
    "NodeAgentSettings",
    "PodFileError",
    "PodIdentity",
    "ProxyPorts",
    "ProxyWorkload",
    "SdsError",
    "SdsServer",
    "StatusServer",
    "StopReport",
    "Svid",
    "SvidError",
    "WorkloadIdentity",
    "bootstrap_json",
    "build_bootstrap",
    "load_workload",
    "node_cluster",
    "node_id",
    "node_metadata",
    "run_node_agent",
]
