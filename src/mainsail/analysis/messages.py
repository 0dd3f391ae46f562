"""The analysis messages: one table of types with stable codes, and the messages analyzers report.

Codes are Istio's (``IST0101`` …, from istio/istio ``pkg/config/analysis/msg/messages.yaml``)
wherever istioctl has the same check, with the same level and wording, so a message reads the
same as ``istioctl analyze`` prints it::

    Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reviewz"

Checks istioctl does not have get Mainsail codes (``MSA0001`` …); their numbers never change
meaning. ``MESSAGE_TYPES`` lists every type; tests pin the codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mainsail.config.parse import DocumentOrigin

DOCS_URL = "https://istio.io/latest/docs/reference/config/analysis"


class Level(StrEnum):
    """Severity, Istio's ``diag.Level`` names; ``rank`` orders them (Error is worst)."""

    ERROR = "Error"
    WARNING = "Warning"
    INFO = "Info"

    @property
    def rank(self) -> int:
        return {Level.ERROR: 2, Level.WARNING: 1, Level.INFO: 0}[self]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageType:
    """A kind of finding; ``template`` is ``str.format`` text filled with the parameters."""

    code: str
    name: str
    level: Level
    template: str

    @property
    def documentation_url(self) -> str | None:
        if not self.code.startswith("IST"):
            return None
        return f"{DOCS_URL}/{self.code.lower()}/"


def _istio(code: str, name: str, level: Level, template: str) -> MessageType:
    return MessageType(code=code, name=name, level=level, template=template)


# Istio's own types (same code, level and wording as istioctl).
DEPRECATED = _istio("IST0002", "Deprecated", Level.WARNING, "Deprecated: {}")
REFERENCED_RESOURCE_NOT_FOUND = _istio(
    "IST0101", "ReferencedResourceNotFound", Level.ERROR, "Referenced {} not found: {}"
)
SCHEMA_VALIDATION_ERROR = _istio(
    "IST0106", "SchemaValidationError", Level.ERROR, "Schema validation error: {}"
)
MISPLACED_ANNOTATION = _istio(
    "IST0107",
    "MisplacedAnnotation",
    Level.WARNING,
    "Misplaced annotation: {} can only be applied to {}",
)
UNKNOWN_ANNOTATION = _istio("IST0108", "UnknownAnnotation", Level.WARNING, "Unknown annotation: {}")
CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS = _istio(
    "IST0109",
    "ConflictingMeshGatewayVirtualServiceHosts",
    Level.ERROR,
    "The VirtualServices {} associated with mesh gateway define the same host {} which can lead "
    "to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a "
    "single resource.",
)
CONFLICTING_SIDECAR_WORKLOAD_SELECTORS = _istio(
    "IST0110",
    "ConflictingSidecarWorkloadSelectors",
    Level.ERROR,
    "The Sidecars {} in namespace {} select the same workload pod {}, which can lead to "
    "undefined behavior.",
)
MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS = _istio(
    "IST0111",
    "MultipleSidecarsWithoutWorkloadSelectors",
    Level.ERROR,
    "The Sidecars {} in namespace {} have no workload selector, which can lead to undefined "
    "behavior.",
)
VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED = _istio(
    "IST0112",
    "VirtualServiceDestinationPortSelectorRequired",
    Level.ERROR,
    "This VirtualService routes to a service {} that exposes multiple ports {}. Specifying a port "
    "in the destination is required to disambiguate.",
)
PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION = _istio(
    "IST0118",
    "PortNameIsNotUnderNamingConvention",
    Level.INFO,
    "Port name {} (port: {}, targetPort: {}) doesn't follow the naming convention of Istio port.",
)
DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES = _istio(
    "IST0116",
    "DeploymentAssociatedToMultipleServices",
    Level.WARNING,
    "This deployment {} is associated with multiple services using port {} but different "
    "protocols: {}",
)
NO_MATCHING_WORKLOADS_FOUND = _istio(
    "IST0127",
    "NoMatchingWorkloadsFound",
    Level.WARNING,
    "No matching workloads for this resource with the following labels: {}",
)
NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL = _istio(
    "IST0128",
    "NoServerCertificateVerificationDestinationLevel",
    Level.WARNING,
    "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set to "
    "validate server identity for host: {}",
)
NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL = _istio(
    "IST0129",
    "NoServerCertificateVerificationPortLevel",
    Level.WARNING,
    "DestinationRule {} in namespace {} has TLS mode set to {} but no caCertificates are set to "
    "validate server identity for host: {} at port {}",
)
VIRTUAL_SERVICE_UNREACHABLE_RULE = _istio(
    "IST0130",
    "VirtualServiceUnreachableRule",
    Level.WARNING,
    "VirtualService rule {} not used ({}).",
)
VIRTUAL_SERVICE_INEFFECTIVE_MATCH = _istio(
    "IST0131",
    "VirtualServiceIneffectiveMatch",
    Level.INFO,
    "VirtualService rule {} match {} is not used (duplicate/overlapping match in rule {}).",
)
VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY = _istio(
    "IST0132",
    "VirtualServiceHostNotFoundInGateway",
    Level.WARNING,
    "one or more host {} defined in VirtualService {} not found in Gateway {}.",
)
SCHEMA_WARNING = _istio("IST0133", "SchemaWarning", Level.WARNING, "Schema validation warning: {}")
SERVICE_ENTRY_ADDRESSES_REQUIRED = _istio(
    "IST0134",
    "ServiceEntryAddressesRequired",
    Level.WARNING,
    "ServiceEntry addresses are required for this protocol.",
)
DEPRECATED_ANNOTATION = _istio(
    "IST0135",
    "DeprecatedAnnotation",
    Level.INFO,
    "Annotation {} has been deprecated{} and may not work in future Istio versions.",
)
DEPLOYMENT_CONFLICTING_PORTS = _istio(
    "IST0137",
    "DeploymentConflictingPorts",
    Level.WARNING,
    "This deployment {} is associated with multiple services {} using targetPort {} but "
    "different ports: {}.",
)
GATEWAY_DUPLICATE_CERTIFICATE = _istio(
    "IST0138",
    "GatewayDuplicateCertificate",
    Level.WARNING,
    "Duplicate certificate in multiple gateways {} may cause 404s if clients re-use HTTP2 "
    "connections.",
)
INGRESS_ROUTE_RULES_NOT_AFFECTED = _istio(
    "IST0140",
    "IngressRouteRulesNotAffected",
    Level.WARNING,
    "Subset in virtual service {} has no effect on ingress gateway {} requests",
)
CONFLICTING_GATEWAYS = _istio(
    "IST0145",
    "ConflictingGateways",
    Level.ERROR,
    "Conflict with gateways {} (workload selector {}, port {}, hosts {}).",
)
JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN = _istio(
    "IST0149",
    "JwtClaimBasedRoutingWithoutRequestAuthN",
    Level.ERROR,
    "The virtual service uses the JWT claim based routing (key: {}) but found no request "
    "authentication for the gateway ({}) pod ({}). The request authentication must first be "
    "applied for the gateway pods to validate the JWT token and make the claims available for "
    "routing.",
)
GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = _istio(
    "IST0162",
    "GatewayPortNotDefinedOnService",
    Level.WARNING,
    "The gateway is listening on a target port (port {}) that is not defined in the Service "
    "associated with its workload instances (Pod selector {}). If you need to access the gateway "
    "port through the gateway Service, it will not be available.",
)
DESTINATION_RULE_SUBSET_NOT_SELECT_PODS = _istio(
    "IST0173",
    "DestinationRuleSubsetNotSelectPods",
    Level.ERROR,
    "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to "
    "503 UH (NoHealthyUpstream).",
)
UNKNOWN_DESTINATION_RULE_HOST = _istio(
    "IST0174",
    "UnknownDestinationRuleHost",
    Level.WARNING,
    "The host {} defined in the DestinationRule does not match any services in the mesh.",
)

# Mainsail's own types (no istioctl equivalent).
VIRTUAL_SERVICE_NOT_APPLIED_TO_SIDECARS = MessageType(
    code="MSA0001",
    name="VirtualServiceNotAppliedToSidecars",
    level=Level.INFO,
    template='The VirtualService is bound to gateways {} but not to "mesh", so sidecars calling '
    '{} do not use its routes. Add "mesh" to spec.gateways if they should.',
)
CONFLICTING_GATEWAY_VIRTUAL_SERVICE_HOSTS = MessageType(
    code="MSA0002",
    name="ConflictingGatewayVirtualServiceHosts",
    level=Level.WARNING,
    template="The VirtualServices {} bound to gateway {} define the same host {}; their routes "
    "are merged oldest first, so a route of a later one may never match. Merge them into a "
    "single resource.",
)
SHADOWED_VIRTUAL_SERVICE_HOST = MessageType(
    code="MSA0003",
    name="ShadowedVirtualServiceHost",
    level=Level.INFO,
    template="Host {} is not routed by this VirtualService for {} on {}: VirtualService {} "
    "defines the more specific host {}, and only the most specific host applies.",
)

SIDECAR_FIELD_NOT_APPLIED_LOCALLY = MessageType(
    code="MSA0004",
    name="SidecarFieldNotAppliedLocally",
    level=Level.INFO,
    template="Sidecar field {} ({}) is accepted but has no effect on the local platform: {}.",
)

MESSAGE_TYPES: tuple[MessageType, ...] = (
    DEPRECATED,
    REFERENCED_RESOURCE_NOT_FOUND,
    SCHEMA_VALIDATION_ERROR,
    MISPLACED_ANNOTATION,
    UNKNOWN_ANNOTATION,
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
    NO_MATCHING_WORKLOADS_FOUND,
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    SCHEMA_WARNING,
    SERVICE_ENTRY_ADDRESSES_REQUIRED,
    DEPRECATED_ANNOTATION,
    DEPLOYMENT_CONFLICTING_PORTS,
    GATEWAY_DUPLICATE_CERTIFICATE,
    INGRESS_ROUTE_RULES_NOT_AFFECTED,
    CONFLICTING_GATEWAYS,
    JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    VIRTUAL_SERVICE_NOT_APPLIED_TO_SIDECARS,
    CONFLICTING_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    SHADOWED_VIRTUAL_SERVICE_HOST,
    SIDECAR_FIELD_NOT_APPLIED_LOCALLY,
)


def quoted(value: str) -> str:
    """Go's ``%q`` for plain strings, as istioctl's templates use it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def go_list(values: Iterable[object]) -> str:
    """Go's ``%v`` of a slice: ``[a b]``."""
    return "[" + " ".join(str(v) for v in values) + "]"


def label_selector(labels: Mapping[str, str]) -> str:
    """Kubernetes' ``labels.SelectorFromSet(…).String()``: ``k=v`` sorted by key, comma-joined."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceRef:
    """The object a message is about."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One finding about one resource (or one file, for documents that did not parse).

    ``path`` is the field the finding is about, in wire form (``spec.http[0].route[0]``), or
    empty; ``origin`` is where the resource was read from (None for objects from the mesh).
    """

    type: MessageType
    parameters: tuple[str, ...]
    resource: ResourceRef | None = None
    origin: DocumentOrigin | None = None
    path: str = ""
    # The line of ``path`` (or of the document) in ``origin``'s file; 0 when not read from one.
    line: int = 0

    @property
    def level(self) -> Level:
        return self.type.level

    @property
    def code(self) -> str:
        return self.type.code

    @property
    def text(self) -> str:
        return self.type.template.format(*self.parameters)

    @property
    def reference(self) -> str:
        """``file:line`` (istioctl's ``Reference()``), or empty for objects not read from files."""
        if self.origin is None:
            return ""
        return f"{self.origin.file}:{self.line}" if self.line else self.origin.file

    def __str__(self) -> str:
        return self.render()

    def render(self, *, reference: bool = True) -> str:
        """istioctl's line: ``Error [IST0101] (VirtualService default/r r.yaml:12) Referenced …``;
        ``reference=False`` leaves out the ``file:line``."""
        parts = [str(self.resource)] if self.resource is not None else []
        if reference and self.reference:
            parts.append(self.reference)
        elif self.resource is None and self.origin is not None:
            parts.append(self.origin.file)
        where = f" ({' '.join(parts)})" if parts else ""
        return f"{self.level} [{self.code}]{where} {self.text}"

    def to_dict(self) -> dict[str, Any]:
        """istioctl's JSON/YAML shape (code, level, origin, reference, message, url) plus path."""
        found: dict[str, Any] = {"code": self.code, "level": str(self.level)}
        if self.resource is not None:
            found["origin"] = str(self.resource)
        if self.origin is not None:
            found["reference"] = self.reference
        if self.path:
            found["path"] = self.path
        found["message"] = self.text
        url = self.type.documentation_url
        if url:
            found["documentationUrl"] = url
        return found
