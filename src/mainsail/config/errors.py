"""Config errors: values that say where a document is wrong and why, with a stable code.

A ``ConfigError`` is a value, not an exception: parsing and validation collect them and never raise
on bad input. Callers that must stop (``mainsail apply``) raise ``ConfigRejected`` carrying them.

Error tree (codes are stable; the full list is ``ErrorCode`` below)::

    ConfigError
    ├── read / parse            MS-READ, MS-YAML, MS-NOT-MAPPING,
    │                           MS-NO-API-VERSION, MS-NO-KIND, MS-NO-NAME,
    │                           MS-UNKNOWN-KIND, MS-UNKNOWN-API-VERSION
    ├── schema (structural, from the typed models; the CRD's openAPIV3Schema)
    │                           MS-SCHEMA-TYPE, MS-SCHEMA-UNKNOWN-FIELD, MS-SCHEMA-REQUIRED,
    │                           MS-SCHEMA-ENUM, MS-SCHEMA-RANGE, MS-SCHEMA-LENGTH,
    │                           MS-SCHEMA-PATTERN, MS-SCHEMA-ONE-OF, MS-SCHEMA-DURATION,
    │                           MS-SCHEMA-INVALID
    └── semantic (Istio's validation webhook rules, ``mainsail.config.validation``)
        ├── shared              MS-HOST, MS-EXPORT-TO, MS-DURATION, MS-PORT, MS-PORT-NAME,
        │                       MS-REGEX, MS-LABELS, MS-PROTOCOL, MS-PERCENT, MS-SELECTOR
        ├── VirtualService      MS-VS-*
        ├── DestinationRule     MS-DR-*
        ├── Gateway             MS-GW-*
        ├── ServiceEntry        MS-SE-*
        ├── Sidecar             MS-SC-*
        └── WorkloadEntry/Group MS-WE-*, MS-WG-*

The one-line form names everything a user needs::

    bookinfo.yaml: document 2 (VirtualService default/reviews): spec.http[0].route[0].weight:
    must be >= 0 [MS-VS-WEIGHT]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Severity = Literal["error", "warning"]


class ErrorCode(StrEnum):
    """Every code a config error can carry, one per rule."""

    # reading and parsing
    READ = "MS-READ"  # a file or directory could not be read
    YAML = "MS-YAML"  # YAML syntax error
    NOT_MAPPING = "MS-NOT-MAPPING"  # a document is not a mapping
    NO_API_VERSION = "MS-NO-API-VERSION"
    NO_KIND = "MS-NO-KIND"
    NO_NAME = "MS-NO-NAME"  # metadata.name missing or empty
    UNKNOWN_KIND = "MS-UNKNOWN-KIND"
    UNKNOWN_API_VERSION = "MS-UNKNOWN-API-VERSION"
    # structural (schema) errors
    SCHEMA_TYPE = "MS-SCHEMA-TYPE"
    SCHEMA_UNKNOWN_FIELD = "MS-SCHEMA-UNKNOWN-FIELD"
    SCHEMA_REQUIRED = "MS-SCHEMA-REQUIRED"
    SCHEMA_ENUM = "MS-SCHEMA-ENUM"
    SCHEMA_RANGE = "MS-SCHEMA-RANGE"
    SCHEMA_LENGTH = "MS-SCHEMA-LENGTH"
    SCHEMA_PATTERN = "MS-SCHEMA-PATTERN"
    SCHEMA_ONE_OF = "MS-SCHEMA-ONE-OF"
    SCHEMA_DURATION = "MS-SCHEMA-DURATION"
    SCHEMA_INVALID = "MS-SCHEMA-INVALID"
    # semantic rules shared by several kinds
    HOST = "MS-HOST"  # hostnames, wildcards, FQDN/IP forms
    EXPORT_TO = "MS-EXPORT-TO"
    DURATION = "MS-DURATION"  # >= 1ms, whole milliseconds
    PORT = "MS-PORT"  # 1-65535
    PORT_NAME = "MS-PORT-NAME"  # DNS-1123 label, unique
    PROTOCOL = "MS-PROTOCOL"
    REGEX = "MS-REGEX"
    LABELS = "MS-LABELS"
    PERCENT = "MS-PERCENT"  # 0-100
    SELECTOR = "MS-SELECTOR"  # workload selector labels
    STRING_MATCH = "MS-STRING-MATCH"  # empty match, empty prefix/regex
    HEADER_NAME = "MS-HEADER-NAME"
    # VirtualService
    VS_NO_ROUTES = "MS-VS-NO-ROUTES"
    VS_HOSTS = "MS-VS-HOSTS"
    VS_DELEGATE = "MS-VS-DELEGATE"
    VS_GATEWAY = "MS-VS-GATEWAY"
    VS_ACTION = "MS-VS-ACTION"  # exactly one of route/redirect/directResponse
    VS_DESTINATION = "MS-VS-DESTINATION"
    VS_WEIGHT = "MS-VS-WEIGHT"
    VS_SUBSET = "MS-VS-SUBSET"
    VS_RETRY = "MS-VS-RETRY"
    VS_RETRY_ON = "MS-VS-RETRY-ON"
    VS_REDIRECT = "MS-VS-REDIRECT"
    VS_DIRECT_RESPONSE = "MS-VS-DIRECT-RESPONSE"
    VS_FAULT = "MS-VS-FAULT"
    VS_MIRROR = "MS-VS-MIRROR"
    VS_REWRITE = "MS-VS-REWRITE"
    VS_HEADERS = "MS-VS-HEADERS"
    VS_MATCH = "MS-VS-MATCH"
    VS_TLS_ROUTE = "MS-VS-TLS-ROUTE"
    VS_CORS = "MS-VS-CORS"
    # DestinationRule
    DR_SUBSET = "MS-DR-SUBSET"
    DR_CONNECTION_POOL = "MS-DR-CONNECTION-POOL"
    DR_OUTLIER = "MS-DR-OUTLIER"
    DR_CONSISTENT_HASH = "MS-DR-CONSISTENT-HASH"
    DR_LOCALITY = "MS-DR-LOCALITY"
    DR_TLS = "MS-DR-TLS"
    DR_LOAD_BALANCER = "MS-DR-LOAD-BALANCER"
    DR_PORT_SETTINGS = "MS-DR-PORT-SETTINGS"
    DR_TUNNEL = "MS-DR-TUNNEL"
    # Gateway
    GW_SERVERS = "MS-GW-SERVERS"
    GW_SERVER_HOSTS = "MS-GW-SERVER-HOSTS"
    GW_TLS = "MS-GW-TLS"
    GW_BIND = "MS-GW-BIND"
    # ServiceEntry
    SE_HOSTS = "MS-SE-HOSTS"
    SE_ADDRESSES = "MS-SE-ADDRESSES"
    SE_RESOLUTION = "MS-SE-RESOLUTION"
    SE_ENDPOINT = "MS-SE-ENDPOINT"
    SE_PORTS = "MS-SE-PORTS"
    SE_SELECTOR = "MS-SE-SELECTOR"
    # Sidecar
    SC_EGRESS = "MS-SC-EGRESS"
    SC_INGRESS = "MS-SC-INGRESS"
    SC_OUTBOUND = "MS-SC-OUTBOUND"
    SC_BIND = "MS-SC-BIND"
    # WorkloadEntry / WorkloadGroup
    WE_ADDRESS = "MS-WE-ADDRESS"
    WE_PORTS = "MS-WE-PORTS"
    WG_PROBE = "MS-WG-PROBE"
    # security.istio.io (shared)
    TARGET_REF = "MS-TARGET-REF"  # selector xor targetRef(s); allowed kinds; same namespace
    IP_BLOCK = "MS-IP-BLOCK"  # IP address or CIDR
    PRINCIPAL = "MS-PRINCIPAL"  # empty values, '*' only as prefix/suffix, service accounts
    # PeerAuthentication
    PA_PORT_LEVEL = "MS-PA-PORT-LEVEL"
    # RequestAuthentication (and the legacy Policy's JWT origins)
    RA_JWT = "MS-RA-JWT"
    # AuthorizationPolicy
    AP_ACTION = "MS-AP-ACTION"  # DENY/CUSTOM need rules, CUSTOM needs provider.name
    AP_CUSTOM = "MS-AP-CUSTOM"  # fields CUSTOM cannot use
    AP_RULE = "MS-AP-RULE"  # empty from/to/source/operation, conflicting fields, ports, paths
    AP_CONDITION = "MS-AP-CONDITION"  # when: known keys, values
    # legacy authentication.istio.io / rbac.istio.io
    AUTHN_POLICY = "MS-AUTHN-POLICY"  # name/targets rules, duplicate issuers
    RBAC_CONFIG = "MS-RBAC-CONFIG"
    RBAC_ROLE = "MS-RBAC-ROLE"
    RBAC_BINDING = "MS-RBAC-BINDING"
    # Telemetry
    TELEMETRY = "MS-TELEMETRY"  # providers, tag overrides, CEL filters, sampling
    # config.istio.io (the book's Mixer model)
    MIXER_EXPRESSION = "MS-MIXER-EXPRESSION"  # CEXL syntax, types, compilable into Envoy
    MIXER_PARAMS = "MS-MIXER-PARAMS"  # adapter/template unknown or its params malformed
    MIXER_RULE = "MS-MIXER-RULE"  # actions, handler and instance references
    # core/v1 Secret (credentialName): base64, PEM, key matching its certificate
    SECRET = "MS-SECRET"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigError:
    """One problem in one document.

    ``document`` is the 1-based position of the YAML document in its file (``None`` when the
    error is about a whole file). ``path`` is the field path in wire (camelCase) form,
    e.g. ``spec.http[0].route[0].destination.host``; empty for whole-document problems.
    """

    reason: str
    code: ErrorCode
    path: str = ""
    file: str | None = None
    document: int | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    severity: Severity = "error"

    def located(
        self, *, file: str | None, document: int | None, kind: str | None, namespace: str | None,
        name: str | None,
    ) -> ConfigError:  # fmt: skip
        """The same error, placed in a file/document/resource (fields already set are kept)."""
        return dataclasses.replace(
            self,
            file=self.file or file,
            document=self.document or document,
            kind=self.kind or kind,
            namespace=self.namespace or namespace,
            name=self.name or name,
        )

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where: list[str] = []
        if self.file:
            where.append(self.file)
        doc = f"document {self.document}" if self.document is not None else ""
        if self.kind or self.name:
            ident = "/".join(p for p in (self.namespace, self.name) if p)
            what = " ".join(p for p in (self.kind, ident) if p)
            doc = f"{doc} ({what})" if doc else what
        if doc:
            where.append(doc)
        if self.path:
            where.append(self.path)
        tail = f"{self.reason} [{self.code}]"
        if self.severity == "warning":
            tail = f"warning: {tail}"
        return ": ".join([*where, tail])


class ConfigRejected(Exception):
    """Raised by callers (apply, sources) that refuse a change because of config errors."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def has_errors(errors: Iterable[ConfigError]) -> bool:
    """True if any of ``errors`` is an error rather than a warning."""
    return any(e.is_error for e in errors)
