"""Peer workload exchange from stock Envoy filters (Istio's ``istio.metadata_exchange`` stand-in).

Each proxy announces its own workload (name, namespace, app, version, canonical service and
revision, cluster) in ``x-mainsail-peer-*`` headers: a client sidecar or gateway on its requests,
a server sidecar on its responses. The receiving side moves them into dynamic metadata
(``mainsail.peer``) with ``header_to_metadata`` and removes them, so the app never sees them and
the stats access logger reads them; a missing header becomes ``unknown`` (Istio's value for a
peer without a sidecar). Headers the app itself sets are removed before ours are added, so an
app cannot pose as another workload. Principals never come from here: they are read from the
mTLS certificates (``xds.telemetry_metrics``).

Filter order: ``header_to_metadata`` first (on responses it runs last, after anything that might
copy headers), then ``header_mutation`` (strip + announce).
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


def _set_header(field: str, value: str) -> mutation_rules_pb2.HeaderMutation:
    # Overwriting also replaces any value the app set: no forged identity passes.
    return mutation_rules_pb2.HeaderMutation(
        append=base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=naming.build_peer_header(field), value=value),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    )


def peer_filters(
    own: WorkloadIdentity, side: Side, computed: Sequence[tuple[str, str]] = ()
) -> list[hcm_pb2.HttpFilter]:
    """The two filters of one HCM: learn the peer (requests on a server, responses on a
    client), announce ourselves the other way.

    ``computed`` (client side): (field, formatter) pairs evaluated once per response into
    headers that the same pass moves to metadata, so a costly formatter (CEL) runs once, not
    once per stat; ``peer_metadata_format(field)`` reads them.
    """
    fields = [*PEER_FIELDS, *(field for field, _ in computed)]
    rules = [_learn_rule(field) for field in fields]
    learn = header_to_metadata_pb2.Config()
    announce = [_set_header(field, own.value(field).replace("%", "%%")) for field in PEER_FIELDS]
    mutations = header_mutation_pb2.Mutations()
    if side == "server":
        learn.request_rules.extend(rules)
        mutations.response_mutations.extend(announce)
    else:
        learn.response_rules.extend(rules)
        mutations.request_mutations.extend(announce)
        mutations.response_mutations.extend(_set_header(f, value) for f, value in computed)
    mutate = header_mutation_pb2.HeaderMutation(mutations=mutations)
    first = hcm_pb2.HttpFilter(name=HEADER_TO_METADATA_FILTER)
    first.typed_config.Pack(learn)
    second = hcm_pb2.HttpFilter(name=HEADER_MUTATION_FILTER)
    second.typed_config.Pack(mutate)
    return [first, second]


def _learn_rule(field: str) -> header_to_metadata_pb2.Config.Rule:
    key = header_to_metadata_pb2.Config.KeyValuePair
    return header_to_metadata_pb2.Config.Rule(
        header=naming.build_peer_header(field),
        on_header_present=key(metadata_namespace=naming.PEER_METADATA_NAMESPACE, key=field),
        on_header_missing=key(
            metadata_namespace=naming.PEER_METADATA_NAMESPACE, key=field, value=UNKNOWN
        ),
        remove=True,
    )
