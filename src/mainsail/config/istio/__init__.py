"""networking.istio.io and security.istio.io kinds as frozen wire models, one module per kind."""

from mainsail.config.istio.authorization_policy import AuthorizationPolicy, AuthorizationPolicySpec
from mainsail.config.istio.destination_rule import DestinationRule, DestinationRuleSpec
from mainsail.config.istio.gateway import Gateway, GatewaySpec
from mainsail.config.istio.peer_authentication import PeerAuthentication, PeerAuthenticationSpec
from mainsail.config.istio.request_authentication import (
    RequestAuthentication,
    RequestAuthenticationSpec,
)
from mainsail.config.istio.service_entry import ServiceEntry, ServiceEntrySpec
from mainsail.config.istio.sidecar import Sidecar, SidecarSpec
from mainsail.config.istio.virtual_service import VirtualService, VirtualServiceSpec
from mainsail.config.istio.workload_entry import WorkloadEntry, WorkloadEntrySpec
from mainsail.config.istio.workload_group import WorkloadGroup, WorkloadGroupSpec

__all__ = [
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "DestinationRule",
    "DestinationRuleSpec",
    "Gateway",
    "GatewaySpec",
    "PeerAuthentication",
    "PeerAuthenticationSpec",
    "RequestAuthentication",
    "RequestAuthenticationSpec",
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
