"""The local platform: pods on loopback addresses, their app processes, and the pod files the
node agent reads (``<state>/pods/<namespace>.<pod>.json``).

Public API: ``PodSpec``, ``ProxyPorts``, ``ContainerSpec``, ``pods_from_deployments``,
``AddressPool``, ``PodAllocations``, ``AppSupervisor``, ``ServiceEnv``, ``build_app_env``,
``PodStore``, ``StateLayout``.
"""

from mainsail.backoff import RestartBackoff
from mainsail.platform.addresses import AddressPool, PodAllocations
from mainsail.platform.app_env import ServiceEnv, build_app_env
from mainsail.platform.deployments import (
    ROUTER_TEMPLATE_ANNOTATION,
    pod_name,
    pods_from_deployment,
    pods_from_deployments,
)
from mainsail.platform.errors import AddressPoolExhausted, PlatformError, PodSpecError
from mainsail.platform.layout import StateLayout
from mainsail.platform.pod import ContainerPortSpec, ContainerSpec, PodSpec, ProxyPorts
from mainsail.platform.pod_store import PodStore
from mainsail.platform.supervisor import AppSupervisor, ContainerStatus, PodStatus

__all__ = [
    "ROUTER_TEMPLATE_ANNOTATION",
    "AddressPool",
    "AddressPoolExhausted",
    "AppSupervisor",
    "ContainerPortSpec",
    "ContainerSpec",
    "ContainerStatus",
    "PlatformError",
    "PodAllocations",
    "PodSpec",
    "PodSpecError",
    "PodStatus",
    "PodStore",
    "ProxyPorts",
    "RestartBackoff",
    "ServiceEnv",
    "StateLayout",
    "build_app_env",
    "pod_name",
    "pods_from_deployment",
    "pods_from_deployments",
]
