"""Peer workload exchange from stock Envoy filters (Istio's ``istio.metadata_exchange`` stand-in).

Each proxy announces its own workload in one ``x-mainsail-peer`` header, as Istio's
``x-envoy-peer-metadata`` does: a base64 ``google.protobuf.Value`` whose struct holds
``workload``, ``namespace``, ``app``, ``version``, ``canonical_service``, ``canonical_revision``
and ``cluster``; a client sidecar or gateway on its requests, a server sidecar on its responses.
The value is constant per proxy, so it is encoded once, at translation. The receiving side's
``header_to_metadata`` has one rule (``PROTOBUF_VALUE``, ``BASE64``) that decodes it whole into
dynamic metadata (``mainsail.peer``, key ``peer``) and removes the header, so the app never sees
it and the stats access logger reads ``%DYNAMIC_METADATA(mainsail.peer:peer:<field>)%``; a
missing header stores the same struct with every field ``unknown`` (Istio's value for a peer
without a sidecar). Ours overwrites any such header the app sets, so an app cannot pose as
another workload. Principals never come from here: they are read from the mTLS certificates
(``xds.telemetry_metrics``).

Why this shape: it is the cheapest exchange stock Envoy offers. One header lookup, one base64
decode and one small protobuf parse per request; the earlier ``;``-joined header split by one
regex rewrite per field (and one metadata write each) cost ~25 us per request on a server sidecar
and ~35 us on a client, the largest part of the metrics' cost (``benchmarks/README.md``).

A value that is not a base64 ``Value`` (a forged header from an app without a sidecar) fails
Envoy's decode, which then writes nothing; so a rule on the request first stores the
all-``unknown`` struct (header or not), and the decoding rule (server: right after it; client:
on the response) overwrites it when the value decodes. The peer's labels are then ``unknown``,
as Istio reports a peer it cannot read, never empty, also when a client's response never
comes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, struct_pb2

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

# The dynamic metadata keys (in ``naming.PEER_METADATA_NAMESPACE``): the peer's struct, and the
# request's authority on the ``allow_any`` route (``passthrough_route_config``).
PEER_KEY = "peer"
AUTHORITY_KEY = "authority"

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
    return f"%DYNAMIC_METADATA({naming.PEER_METADATA_NAMESPACE}:{PEER_KEY}:{field})%"


def encode_peer(values: dict[str, str]) -> str:
    """The ``x-mainsail-peer`` value: base64 of a ``google.protobuf.Value`` struct."""
    value = struct_pb2.Value()
    for field in PEER_FIELDS:
        value.struct_value.fields[field].string_value = values[field]
    return base64.b64encode(value.SerializeToString(deterministic=True)).decode("ascii")


def decode_peer(header: str) -> dict[str, str]:
    """The fields an ``x-mainsail-peer`` value carries (tests, debugging)."""
    value = struct_pb2.Value.FromString(base64.b64decode(header))
    return {key: item.string_value for key, item in value.struct_value.fields.items()}


def announced(own: WorkloadIdentity) -> str:
    return encode_peer({field: own.value(field) for field in PEER_FIELDS})


# What a peer without a sidecar (no header) is recorded as.
UNKNOWN_PEER = encode_peer(dict.fromkeys(PEER_FIELDS, UNKNOWN))


def _set_header(name: str, value: str) -> mutation_rules_pb2.HeaderMutation:
    # Overwriting also replaces any value the app set: no forged identity passes.
    return mutation_rules_pb2.HeaderMutation(
        append=base_pb2.HeaderValueOption(
            header=base_pb2.HeaderValue(key=name, value=value),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    )


def peer_filters(own: WorkloadIdentity, side: Side) -> list[hcm_pb2.HttpFilter]:
    """The two filters of one HCM: learn the peer (requests on a server, responses on a
    client), announce ourselves the other way. On responses ``header_to_metadata`` runs after
    ``header_mutation`` (encoders run in reverse), which announces only on requests there."""
    learn = header_to_metadata_pb2.Config()
    # Base64 has no ``%``: the value is a literal format string.
    announce = _set_header(naming.build_peer_header(), announced(own))
    mutations = header_mutation_pb2.Mutations()
    if side == "server":
        learn.request_rules.extend([_fallback_rule(), _decode_rule()])
        mutations.response_mutations.append(announce)
    else:
        # The client's fallback on the request (its response may never come), the decoding
        # on the response; header_mutation then overwrites any header the app sent.
        learn.request_rules.append(_fallback_rule())
        learn.response_rules.append(_decode_rule())
        mutations.request_mutations.append(announce)
    mutate = header_mutation_pb2.HeaderMutation(mutations=mutations)
    first = hcm_pb2.HttpFilter(name=HEADER_TO_METADATA_FILTER)
    first.typed_config.Pack(learn)
    second = hcm_pb2.HttpFilter(name=HEADER_MUTATION_FILTER)
    second.typed_config.Pack(mutate)
    return [first, second]


def _peer_value(constant: str = "") -> header_to_metadata_pb2.Config.KeyValuePair:
    """The peer struct into ``mainsail.peer:peer``: the header's value, or ``constant``."""
    config = header_to_metadata_pb2.Config
    found = config.KeyValuePair(
        metadata_namespace=naming.PEER_METADATA_NAMESPACE,
        key=PEER_KEY,
        type=config.PROTOBUF_VALUE,
        encode=config.BASE64,
    )
    if constant:
        found.value = constant
    return found


def _fallback_rule() -> header_to_metadata_pb2.Config.Rule:
    """Store the all-``unknown`` struct, header or not (one small constant decode): on a
    request, so the peer is ``unknown`` and never empty when no header decodes later: a value
    that does not decode makes Envoy write nothing, and a client whose caller went away before
    any response (``DC``) never runs its response rules. Cheaper than an ``unknown``-when-empty
    tag rule on the seven peer labels of four stats (28 matcher runs per request)."""
    unknown = _peer_value(UNKNOWN_PEER)
    return header_to_metadata_pb2.Config.Rule(
        header=naming.build_peer_header(), on_header_present=unknown, on_header_missing=unknown
    )


def _decode_rule() -> header_to_metadata_pb2.Config.Rule:
    """Decode the peer's header over the fallback (Envoy merges by key) and remove it."""
    return header_to_metadata_pb2.Config.Rule(
        header=naming.build_peer_header(), on_header_present=_peer_value(), remove=True
    )


def passthrough_route_config() -> any_pb2.Any:
    """``header_to_metadata``'s config for the sidecar's ``allow_any`` route (PassthroughCluster:
    no service metadata), where Istio's ``destination_service`` is the Host header: the client's
    peer rules plus the authority into ``mainsail.peer:authority``. Only there, so the tag reading
    it (``xds.telemetry_metrics``) costs nothing on service routes; a route's config replaces the
    HCM's whole, hence the peer rules again."""
    config = header_to_metadata_pb2.Config
    authority = config.KeyValuePair(
        metadata_namespace=naming.PEER_METADATA_NAMESPACE, key=AUTHORITY_KEY
    )
    learn = config(
        request_rules=[
            config.Rule(header=":authority", on_header_present=authority),
            _fallback_rule(),
        ],
        response_rules=[_decode_rule()],
    )
    packed = any_pb2.Any()
    packed.Pack(learn)
    return packed
