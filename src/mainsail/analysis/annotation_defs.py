"""Istio's resource annotations (istio/api ``annotation/annotations.yaml``): name, the kinds each
may be put on, and whether it is deprecated — what ``annotations.K8sAnalyzer`` checks against.

Regenerate by reading that file (name, resources, deprecated) when Istio adds annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# ``Any``: the annotation may be put on any kind.
ANY = "Any"


@dataclass(frozen=True, slots=True)
class AnnotationDef:
    name: str
    resources: tuple[str, ...]
    deprecated: bool = False


def _a(name: str, resources: tuple[str, ...], *, deprecated: bool) -> AnnotationDef:
    return AnnotationDef(name, resources, deprecated)


_ALL = (
    _a("prometheus.istio.io/merge-metrics", ("Pod",), deprecated=False),
    _a("alpha.istio.io/kubernetes-serviceaccounts", ("Service",), deprecated=True),
    _a("alpha.istio.io/canonical-serviceaccounts", ("Service",), deprecated=True),
    _a("networking.istio.io/exportTo", ("Service",), deprecated=False),
    _a("sidecar.istio.io/inject", ("Pod",), deprecated=True),
    _a("sidecar.istio.io/status", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/rewriteAppHTTPProbers", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/discoveryAddress", ("Pod",), deprecated=True),
    _a("sidecar.istio.io/proxyImage", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/proxyImageType", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/proxyCPU", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/proxyCPULimit", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/proxyMemory", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/proxyMemoryLimit", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/interceptionMode", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/bootstrapOverride", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/statsInclusionPrefixes", ("Pod",), deprecated=True),
    _a("sidecar.istio.io/statsInclusionSuffixes", ("Pod",), deprecated=True),
    _a("sidecar.istio.io/statsInclusionRegexps", ("Pod",), deprecated=True),
    _a("sidecar.istio.io/statsHistogramBuckets", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/statsFlushInterval", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/statsEvictionInterval", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/statsHistogramBins", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/userVolume", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/userVolumeMount", ("Pod",), deprecated=False),
    _a("status.sidecar.istio.io/port", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/logLevel", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/componentLogLevel", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/agentLogLevel", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/nativeSidecar", ("Pod",), deprecated=False),
    _a("readiness.status.sidecar.istio.io/initialDelaySeconds", ("Pod",), deprecated=False),
    _a("readiness.status.sidecar.istio.io/periodSeconds", ("Pod",), deprecated=False),
    _a("readiness.status.sidecar.istio.io/failureThreshold", ("Pod",), deprecated=False),
    _a("readiness.status.sidecar.istio.io/applicationPorts", ("Pod",), deprecated=False),
    _a("traffic.istio.io/nodeSelector", ("Service",), deprecated=False),
    _a("traffic.sidecar.istio.io/includeOutboundIPRanges", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/excludeOutboundIPRanges", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/includeInboundPorts", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/excludeInboundPorts", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/excludeInterfaces", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/includeOutboundPorts", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/excludeOutboundPorts", ("Pod",), deprecated=False),
    _a("traffic.sidecar.istio.io/kubevirtInterfaces", ("Pod",), deprecated=True),
    _a("kubernetes.io/ingress.class", ("Ingress",), deprecated=False),
    _a("galley.istio.io/analyze-suppress", ("Any",), deprecated=False),
    _a("proxy.istio.io/config", ("Pod",), deprecated=False),
    _a("istio.io/dry-run", ("AuthorizationPolicy",), deprecated=False),
    _a("istio.io/rev", ("Pod",), deprecated=False),
    _a("proxy.istio.io/overrides", ("Pod",), deprecated=False),
    _a("inject.istio.io/templates", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/extraStatTags", ("Pod",), deprecated=True),
    _a("istio.io/autoRegistrationGroup", ("WorkloadEntry",), deprecated=False),
    _a("istio.io/workloadController", ("WorkloadEntry",), deprecated=False),
    _a("istio.io/connectedAt", ("WorkloadEntry",), deprecated=False),
    _a("istio.io/disconnectedAt", ("WorkloadEntry",), deprecated=False),
    _a("topology.istio.io/controlPlaneClusters", ("Namespace",), deprecated=False),
    _a("gateway.istio.io/controller-version", ("Any",), deprecated=False),
    _a("ambient.istio.io/redirection", ("Pod",), deprecated=False),
    _a("ambient.istio.io/waypoint-inbound-binding", ("GatewayClass", "Gateway"), deprecated=False),
    _a("gateway.istio.io/service-account", ("Gateway",), deprecated=False),
    _a("gateway.istio.io/name-override", ("Gateway",), deprecated=False),
    _a("networking.istio.io/service-type", ("Gateway",), deprecated=False),
    _a(
        "networking.istio.io/traffic-distribution",
        ("Namespace", "Service", "ServiceEntry"),
        deprecated=False,
    ),
    _a(
        "istio.io/use-waypoint-canary-weight",
        ("Service", "ServiceEntry", "Namespace"),
        deprecated=False,
    ),
    _a("ambient.istio.io/bypass-inbound-capture", ("Pod",), deprecated=False),
    _a("istio.io/reroute-virtual-interfaces", ("Pod",), deprecated=False),
    _a("ambient.istio.io/dns-capture", ("Pod",), deprecated=False),
    _a("sidecar.istio.io/statsCompression", ("Pod",), deprecated=True),
)

ANNOTATIONS: Mapping[str, AnnotationDef] = MappingProxyType({a.name: a for a in _ALL})

# Extra text istioctl adds to a deprecation message (``deprecationExtraMessages``).
DEPRECATION_EXTRA: Mapping[str, str] = MappingProxyType(
    {"sidecar.istio.io/inject": ' in favor of the "sidecar.istio.io/inject" label'}
)
