"""networking.istio.io kinds as frozen wire models, one module per kind."""

from mainsail.config.istio.destination_rule import DestinationRule, DestinationRuleSpec
from mainsail.config.istio.gateway import Gateway, GatewaySpec
from mainsail.config.istio.service_entry import ServiceEntry, ServiceEntrySpec
from mainsail.config.istio.sidecar import Sidecar, SidecarSpec
from mainsail.config.istio.virtual_service import VirtualService, VirtualServiceSpec
from mainsail.config.istio.workload_entry import WorkloadEntry, WorkloadEntrySpec
from mainsail.config.istio.workload_group import WorkloadGroup, WorkloadGroupSpec

__all__ = [
    "DestinationRule",
    "DestinationRuleSpec",
    "Gateway",
    "GatewaySpec",
    "ServiceEntry",
    "ServiceEntrySpec",
    "Sidecar",
    "SidecarSpec",
    "VirtualService",
    "VirtualServiceSpec",
    "WorkloadEntry",
    "WorkloadEntrySpec",
    "WorkloadGroup",
    "WorkloadGroupSpec",
]
