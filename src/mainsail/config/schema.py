"""The one table of kinds Mainsail understands; the CLI, sources and dashboard all read it.

Each ``KindSchema`` says what Kubernetes' discovery would: group, kind, plural, singular, short
names, served versions and scope, plus the frozen model that parses the document.
``lookup`` resolves what a user types (``vs``, ``virtualservices``, ``VirtualService``,
``virtualservices.networking.istio.io``; case-insensitive) to a schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from mainsail.config.base import Resource
from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.destination_rule import DestinationRule
from mainsail.config.istio.gateway import Gateway
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.istio.service_entry import ServiceEntry
from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.istio.telemetry import Telemetry
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.config.istio.workload_entry import WorkloadEntry
from mainsail.config.istio.workload_group import WorkloadGroup
from mainsail.config.kube.secret import Secret
from mainsail.config.kube.service import Service, ServiceAccount
from mainsail.config.kube.workloads import Deployment, Pod
from mainsail.config.legacy.authentication import MeshPolicy, Policy
from mainsail.config.legacy.rbac import (
    ClusterRbacConfig,
    RbacConfig,
    ServiceRole,
    ServiceRoleBinding,
)
from mainsail.config.mixer.models import (
    Fluentd,
    Handler,
    Instance,
    LogEntry,
    Metric,
    Prometheus,
    Rule,
    Stdio,
    TraceSpan,
    Zipkin,
)

NETWORKING = "networking.istio.io"
NETWORKING_VERSIONS = ("v1", "v1beta1", "v1alpha3")
SECURITY = "security.istio.io"
SECURITY_VERSIONS = ("v1", "v1beta1")
TELEMETRY = "telemetry.istio.io"
TELEMETRY_VERSIONS = ("v1", "v1alpha1")
# The pre-1.6 security APIs the book uses (removed in Istio 1.6; converted before translation).
LEGACY_AUTHENTICATION = "authentication.istio.io"
LEGACY_RBAC = "rbac.istio.io"
LEGACY_VERSIONS = ("v1alpha1",)
# The book's Mixer model (Istio 1.0-1.7; compiled into Envoy, ``config.mixer``).
MIXER = "config.istio.io"
MIXER_VERSIONS = ("v1alpha2",)


@dataclass(frozen=True, slots=True, kw_only=True)
class KindSchema:
    """One kind. ``versions`` are the served versions, the storage (preferred) version first."""

    group: str  # "" for the Kubernetes core group
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    versions: tuple[str, ...]
    namespaced: bool
    model: type[Resource]
    # Removed from Istio; accepted, then converted to the modern kinds (mainsail convert).
    legacy: bool = False

    @property
    def api_versions(self) -> tuple[str, ...]:
        """The ``apiVersion`` strings accepted in documents, e.g. ``networking.istio.io/v1``."""
        return tuple(f"{self.group}/{v}" if self.group else v for v in self.versions)

    @property
    def preferred_api_version(self) -> str:
        return self.api_versions[0]

    @property
    def resource_name(self) -> str:
        """``plural.group`` as in a CRD's name (just ``plural`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def names(self) -> tuple[str, ...]:
        """Every word that names this kind, lower-cased."""
        words = (self.kind, self.plural, self.singular, self.resource_name, *self.short_names)
        return tuple(dict.fromkeys(w.lower() for w in words))


def _kind(
    group: str,
    versions: tuple[str, ...],
    kind: str,
    plural: str,
    short: tuple[str, ...],
    model: type[Resource],
    *,
    namespaced: bool = True,
    legacy: bool = False,
) -> KindSchema:
    return KindSchema(
        group=group,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        short_names=short,
        versions=versions,
        namespaced=namespaced,
        model=model,
        legacy=legacy,
    )


def _networking(
    kind: str, plural: str, short: tuple[str, ...], model: type[Resource]
) -> KindSchema:
    return _kind(NETWORKING, NETWORKING_VERSIONS, kind, plural, short, model)


def _security(kind: str, plural: str, short: tuple[str, ...], model: type[Resource]) -> KindSchema:
    return _kind(SECURITY, SECURITY_VERSIONS, kind, plural, short, model)


def _legacy(
    group: str, kind: str, plural: str, model: type[Resource], *, namespaced: bool = True
) -> KindSchema:
    return _kind(
        group, LEGACY_VERSIONS, kind, plural, (), model, namespaced=namespaced, legacy=True
    )


def _mixer(kind: str, plural: str, model: type[Resource]) -> KindSchema:
    """Mixer's CRD kinds are lower-case (``kind: rule``), as Istio registered them."""
    return _kind(MIXER, MIXER_VERSIONS, kind, plural, (), model)


def _kubernetes(
    group: str, kind: str, plural: str, short: tuple[str, ...], model: type[Resource]
) -> KindSchema:
    """A Kubernetes kind the local platform reads (served as ``v1`` of ``group``)."""
    return _kind(group, ("v1",), kind, plural, short, model)


KINDS: tuple[KindSchema, ...] = (
    _networking("VirtualService", "virtualservices", ("vs",), VirtualService),
    _networking("DestinationRule", "destinationrules", ("dr",), DestinationRule),
    _networking("ServiceEntry", "serviceentries", ("se",), ServiceEntry),
    _networking("Gateway", "gateways", ("gw",), Gateway),
    _networking("Sidecar", "sidecars", (), Sidecar),
    _networking("WorkloadEntry", "workloadentries", ("we",), WorkloadEntry),
    _networking("WorkloadGroup", "workloadgroups", ("wg",), WorkloadGroup),
    _security("PeerAuthentication", "peerauthentications", ("pa",), PeerAuthentication),
    _security("RequestAuthentication", "requestauthentications", ("ra",), RequestAuthentication),
    _security("AuthorizationPolicy", "authorizationpolicies", ("ap",), AuthorizationPolicy),
    _kind(TELEMETRY, TELEMETRY_VERSIONS, "Telemetry", "telemetries", ("telemetry",), Telemetry),
    _legacy(LEGACY_AUTHENTICATION, "Policy", "policies", Policy),
    _legacy(LEGACY_AUTHENTICATION, "MeshPolicy", "meshpolicies", MeshPolicy, namespaced=False),
    _legacy(LEGACY_RBAC, "RbacConfig", "rbacconfigs", RbacConfig),
    _legacy(
        LEGACY_RBAC, "ClusterRbacConfig", "clusterrbacconfigs", ClusterRbacConfig, namespaced=False
    ),
    _legacy(LEGACY_RBAC, "ServiceRole", "serviceroles", ServiceRole),
    _legacy(LEGACY_RBAC, "ServiceRoleBinding", "servicerolebindings", ServiceRoleBinding),
    _mixer("handler", "handlers", Handler),
    _mixer("instance", "instances", Instance),
    _mixer("rule", "rules", Rule),
    _mixer("prometheus", "prometheuses", Prometheus),
    _mixer("stdio", "stdios", Stdio),
    _mixer("fluentd", "fluentds", Fluentd),
    _mixer("zipkin", "zipkins", Zipkin),
    _mixer("metric", "metrics", Metric),
    _mixer("logentry", "logentries", LogEntry),
    _mixer("tracespan", "tracespans", TraceSpan),
    _kubernetes("", "Service", "services", ("svc",), Service),
    _kubernetes("", "ServiceAccount", "serviceaccounts", ("sa",), ServiceAccount),
    _kubernetes("", "Secret", "secrets", (), Secret),
    _kubernetes("", "Pod", "pods", ("po",), Pod),
    _kubernetes("apps", "Deployment", "deployments", ("deploy",), Deployment),
)

_BY_WORD: dict[str, KindSchema] = {word: s for s in KINDS for word in s.names()}
_BY_KIND: dict[str, KindSchema] = {s.kind: s for s in KINDS}


def lookup(word: str) -> KindSchema | None:
    """The kind a user means by ``word`` (kind, plural, singular, short name or plural.group)."""
    return _BY_WORD.get(word.strip().lower())


def by_kind(kind: str) -> KindSchema | None:
    """The kind named exactly (case-sensitively, as in a document's ``kind:``)."""
    return _BY_KIND.get(kind)
