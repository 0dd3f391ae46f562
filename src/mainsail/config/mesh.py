"""MeshConfig: the mesh-wide settings istiod reads from its ConfigMap, with Istio's defaults."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from mainsail.config.base import WireModel
from mainsail.config.extension_providers import ExtensionProvider
from mainsail.config.istio.destination_rule import LocalityLoadBalancerSetting
from mainsail.config.tracing import ProxyConfigDefaults


class OutboundTrafficPolicy(WireModel):
    mode: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY"


class DefaultProviders(WireModel):
    """Istio's ``defaultProviders``: which providers apply when no Telemetry resource says.

    ``metrics`` empty means Istio's default, ``prometheus`` (the standard ``istio_*`` metrics);
    a list without ``prometheus`` turns them off.
    """

    metrics: tuple[str, ...] = ()
    access_logging: tuple[str, ...] = ()
    tracing: tuple[str, ...] = ()


class MeshMtls(WireModel):
    """``meshMTLS``: the server side of the mesh's own mutual TLS (Istio's ``TLSConfig``)."""

    # TLS_AUTO and TLSV1_2 both mean TLS 1.2 (istiod's ``GetMinTLSVersion``).
    min_protocol_version: Literal["TLS_AUTO", "TLSV1_2", "TLSV1_3"] = "TLS_AUTO"
    ecdh_curves: tuple[str, ...] = ()
    # Empty: Istio's six ciphers.
    cipher_suites: tuple[str, ...] = ()


class MeshConfig(WireModel):
    root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    # Other trust domains whose identities count as ours (AuthorizationPolicy principals).
    trust_domain_aliases: tuple[str, ...] = ()
    # The DNS suffix of Kubernetes-style service names (``<svc>.<ns>.svc.<domain>``).
    domain: str = "cluster.local"
    connect_timeout: timedelta = timedelta(seconds=10)
    outbound_traffic_policy: OutboundTrafficPolicy = Field(default_factory=OutboundTrafficPolicy)
    enable_auto_mtls: bool = True
    mesh_mtls: MeshMtls = Field(default_factory=MeshMtls, alias="meshMTLS")
    protocol_detection_timeout: timedelta = timedelta(0)
    ingress_service: str = "istio-ingressgateway"
    # Istio's default: locality load balancing on (failover needs outlier detection to act).
    locality_lb_setting: LocalityLoadBalancerSetting = Field(
        default_factory=lambda: LocalityLoadBalancerSetting(enabled=True)
    )
    # Named providers (CUSTOM AuthorizationPolicy ext_authz; see ``config.extension_providers``).
    extension_providers: tuple[ExtensionProvider, ...] = ()
    # Access logs (Istio: off unless set; ``/dev/stdout`` goes to the pod's own access log file on
    # the local platform, ``<home>/logs/<ns>.<pod>.access.log``). Format empty: Istio's default.
    access_log_file: str = ""
    access_log_encoding: Literal["TEXT", "JSON"] = "TEXT"
    access_log_format: str = ""
    default_providers: DefaultProviders = Field(default_factory=DefaultProviders)
    # Tracing (``config.tracing``): off entirely when false; sampling in ``defaultConfig``.
    enable_tracing: bool = True
    default_config: ProxyConfigDefaults = Field(default_factory=ProxyConfigDefaults)
    h2_upgrade_policy: Literal["DO_NOT_UPGRADE", "UPGRADE"] = "DO_NOT_UPGRADE"
    # Test hook (never set in production): VirtualService names whose routes translation
    # deliberately corrupts so that Envoy NACKs them; proves NACK handling end to end.
    test_nack_virtual_services: tuple[str, ...] = ()
