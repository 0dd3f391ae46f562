"""Peer workload exchange from stock Envoy filters (Istio's ``istio.metadata_exchange`` stand-in).

Each proxy announces its own workload in one ``x-mainsail-peer`` header, the values
``workload;namespace;app;version;canonical service;canonical revision;cluster`` (label values
cannot hold ``;``): a client sidecar or gateway on its requests, a server sidecar on its
responses. The receiving side splits it into dynamic metadata (``mainsail.peer``, one
``header_to_metadata`` rule per field with a regex rewrite) and removes it, so the app never
sees it and the stats access logger reads it; a missing header becomes ``unknown`` (Istio's
value for a peer without a sidecar). Ours overwrites any such header the app sets, so an app
cannot pose as another workload. Principals never come from here: they are read from the mTLS
certificates (``xds.telemetry_metrics``). One header, not seven: every header added costs a
formatter run per request.

Filter order: ``header_to_metadata`` first (on responses it runs last, after
``header_mutation`` added the client's computed ``x-mainsail-peer-service``), then
``header_mutation`` (announce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail import naming
from mainsail.snapshot.proxy import ProxyNode

HEADER_TO_METADATA_FILTER = "envoy.filters.http.header_to_metadata"
HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation"
UNKNOWN = "unknown"
# Istio's default ``CLUSTER_ID`` outside multicluster.
DEFAULT_CLUSTER_ID = "Kubernetes"

# The attributes exchanged, in Istio's label order.
PEER_FIELDS: tuple[str, ...] = (
    "workload",
    "namespace",
    "app",
    "version",
    "canonical_service",
    "canonical_revision",
    "cluster",
)

# What a client computes about the destination once per response (``x-mainsail-peer-service``).
SERVICE_GROUP = "service"
SERVICE_FIELDS: tuple[str, ...] = ("service_host", "service_name", "service_namespace")
SEPARATOR = ";"

Side = Literal["client", "server"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadIdentity:
    """What Istio's stats labels say about one workload (missing values are ``unknown``)."""

    workload: str
    namespace: str
    app: str
    version: str
    canonical_service: str
    canonical_revision: str
    cluster: str

    def value(self, field: str) -> str:
        found: str = getattr(self, field)
        return found


def workload_identity(node: ProxyNode) -> WorkloadIdentity:
    """Istio's rules: canonical service from ``service.istio.io/canonical-name``, else
    ``app.kubernetes.io/name``, else ``app``, else the workload; revision from
    ``service.istio.io/canonical-revision``, else ``app.kubernetes.io/version``, else ``version``,
    else ``latest``."""
    labels = node.label_map
    workload = node.workload_name or node.pod_name
    app = labels.get("app") or labels.get("app.kubernetes.io/name") or UNKNOWN
    version = labels.get("version") or labels.get("app.kubernetes.io/version") or UNKNOWN
    canonical_service = (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload
    )
    canonical_revision = (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )
    return WorkloadIdentity(
        workload=workload or UNKNOWN,
        namespace=node.namespace or UNKNOWN,
        app=app,
        version=version,
        canonical_service=canonical_service,
        canonical_revision=canonical_revision,
        cluster=dict(node.extra).get("CLUSTER_ID") or DEFAULT_CLUSTER_ID,
    )


def peer_metadata_format(field: str) -> str:
    """The formatter reading the peer's ``field`` that the header_to_metadata filter stored."""
    return f"%DYNAMIC_METADATA({naming.PEER_METADATA_NAMESPACE}:{field})%"


def _set_header(name: str, value: str) -> mutation_rules_pb2.HeaderMutation:
    # Overwriting also replaces any value the app set: no forged identity passes.
    return mutation_rules_pb2.HeaderMutation(
        append=base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=name, value=value),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    )


def joined(values: Sequence[str]) -> str:
    return SEPARATOR.join(values)


def peer_filters(own: WorkloadIdentity, side: Side, computed: str = "") -> list[hcm_pb2.HttpFilter]:
    """The two filters of one HCM: learn the peer (requests on a server, responses on a
    client), announce ourselves the other way.

    ``computed`` (client side): a formatter giving ``host;name;namespace`` of the destination
    service, evaluated once per response into ``x-mainsail-peer-service`` that the same pass
    moves to metadata (``service_host``, …), so a costly formatter (CEL) runs once, not once
    per stat.
    """
    rules = _learn_rules(naming.build_peer_header(), PEER_FIELDS)
    learn = header_to_metadata_pb2.Config()
    value = joined([own.value(field) for field in PEER_FIELDS]).replace("%", "%%")
    announce = _set_header(naming.build_peer_header(), value)
    mutations = header_mutation_pb2.Mutations()
    if side == "server":
        learn.request_rules.extend(rules)
        mutations.response_mutations.append(announce)
    else:
        service = naming.build_peer_header(SERVICE_GROUP)
        learn.response_rules.extend([*rules, *_learn_rules(service, SERVICE_FIELDS)])
        mutations.request_mutations.append(announce)
        if computed:
            mutations.response_mutations.append(_set_header(service, computed))
    mutate = header_mutation_pb2.HeaderMutation(mutations=mutations)
    first = hcm_pb2.HttpFilter(name=HEADER_TO_METADATA_FILTER)
    first.typed_config.Pack(learn)
    second = hcm_pb2.HttpFilter(name=HEADER_MUTATION_FILTER)
    second.typed_config.Pack(mutate)
    return [first, second]


def _learn_rules(header: str, fields: Sequence[str]) -> list[header_to_metadata_pb2.Config.Rule]:
    """One rule per field, each keeping its position of the ``;``-joined value; only the last
    removes the header (a removed header reads as missing to the rules after it)."""
    return [
        _learn_rule(header, field, index, remove=index == len(fields) - 1)
        for index, field in enumerate(fields)
    ]


def _learn_rule(
    header: str, field: str, index: int, *, remove: bool
) -> header_to_metadata_pb2.Config.Rule:
    key = header_to_metadata_pb2.Config.KeyValuePair
    present = key(metadata_namespace=naming.PEER_METADATA_NAMESPACE, key=field)
    present.regex_value_rewrite.pattern.regex = f"^(?:[^;]*;){{{index}}}([^;]*).*$"
    present.regex_value_rewrite.substitution = "\\1"
    return header_to_metadata_pb2.Config.Rule(
        header=header,
        on_header_present=present,
        on_header_missing=key(
            metadata_namespace=naming.PEER_METADATA_NAMESPACE, key=field, value=UNKNOWN
        ),
        remove=remove,
    )
