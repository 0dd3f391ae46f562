"""The node agent: Envoy bootstrap, Envoy lifecycle (start, adopt, drain, restart) and readiness.

Public API: ``run_node_agent``, ``NodeAgent``, ``NodeAgentSettings``, ``build_bootstrap``,
``BootstrapOptions``, ``EnvoyProcess``, ``EnvoyAdmin``, ``StatusServer``, ``ProxyWorkload``,
``ProxyPorts``, ``AgentLayout``.
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
from mainsail.agent.errors import AgentError, EnvoyStartError, PodFileError
from mainsail.agent.layout import AgentLayout
from mainsail.agent.node_agent import NodeAgent, run_node_agent
from mainsail.agent.settings import NodeAgentSettings
from mainsail.agent.status_server import StatusServer
from mainsail.agent.workload import ProxyPorts, ProxyWorkload, load_workload

__all__ = [
    "AGENT_CLUSTER",
    "AgentError",
    "AgentLayout",
    "BootstrapOptions",
    "EnvoyAdmin",
    "EnvoyProcess",
    "EnvoyStartError",
    "EnvoyStatus",
    "NodeAgent",
    "NodeAgentSettings",
    "PodFileError",
    "ProxyPorts",
    "ProxyWorkload",
    "StatusServer",
    "StopReport",
    "bootstrap_json",
    "build_bootstrap",
    "load_workload",
    "node_cluster",
    "node_id",
    "node_metadata",
    "run_node_agent",
]
