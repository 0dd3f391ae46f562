"""Istio's standard metrics from Envoy's stats access logger (``envoy.access_loggers.stats``).

Our Envoy has no ``istio.stats`` filter, so each HCM and ``tcp_proxy`` gets stats access loggers
whose counters and histograms carry Istio's names, label set and default buckets (Envoy's
default histogram buckets are Istio's: 0.5 … 3600000). Every tag is evaluated once per stat (four
times per HTTP request), so each is the cheapest formatter that gives Istio's value; no tag and
no filter on the request path runs CEL or a regex. Label values come from:

- the proxy's own workload: constants compiled in at translation (``source_*`` on a client or
  gateway, ``destination_*`` on a server sidecar);
- the peer's workload: the struct the peer exchange stored in dynamic metadata
  (``xds.telemetry_peer``), all ``unknown`` when the peer sent none or one that does not
  decode; on ``tcp_proxy`` (no exchange) the constant ``unknown``;
- principals: the mTLS certificates only (``%UPSTREAM_*_URI_SAN%`` on the client,
  ``%DOWNSTREAM_*_URI_SAN%`` on the server), never a header; empty becomes ``unknown`` by a tag
  rule (``Tag.rules``, a ``TransformStat`` matcher: raw field 3, not in our xds-protos);
- ``request_protocol``: the ``content-type`` header, which a tag rule turns into ``grpc``
  (prefix ``application/grpc``) or ``http``; ``connection_security_policy`` on a server: the
  peer certificate's digest, ``none`` when empty, else ``mutual_tls`` (CEL's
  ``connection.mtls``);
- ``destination_service*`` on a client: flat copies of Istio's ``istio.services[0]`` that
  ``xds.clusters`` puts on each cluster (``mainsail.service`` metadata, read by
  ``%CLUSTER_METADATA%``); without them (PassthroughCluster) the Host header, which only the
  ``allow_any`` route stores (``xds.routes``), and ``unknown`` by a tag rule when empty (no
  route); on a server: the Service the inbound port belongs to.

Stats go to the ``istio`` scope (``stats_scope``: the replacement of the deprecated
``stat_prefix``, which our xds-protos do not know yet, so it is appended as raw field 6), whose
counter and histogram caps bound cardinality. Envoy prints them as ``envoy_istio_*``; the
bootstrap's Prometheus listener renames them to Istio's ``istio_*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.data.accesslog.v3 import accesslog_pb2 as accesslog_data_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from google.protobuf import wrappers_pb2
from xds.type.matcher.v3 import matcher_pb2

from mainsail import naming
from mainsail.xds.telemetry_api import Overrides, stat_enabled, with_tag_overrides
from mainsail.xds.telemetry_peer import (
    AUTHORITY_KEY,
    PEER_FIELDS,
    UNKNOWN,
    WorkloadIdentity,
    peer_metadata_format,
)

STATS_LOGGER = "envoy.access_loggers.stats"
# Per logger scope: beyond these, new series are dropped (Envoy's scope limits), not grown.
MAX_COUNTERS = 10000
MAX_HISTOGRAMS = 2000

Reporter = Literal["source", "destination"]

_TAG_VALUE_INPUT = "envoy.extensions.matching.common_inputs.stats.v3.StatTagValueInput"
_TRANSFORM_STAT = "envoy.extensions.matching.actions.transform_stat.v3.TransformStat"

_Config = stats_pb2.Config
_Tag = stats_pb2.Config.Tag


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationService:
    """The Service a server sidecar's inbound port serves (its ``destination_service*``)."""

    host: str
    name: str
    namespace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSpec:
    """Everything the labels need for one HCM or ``tcp_proxy``."""

    reporter: Reporter
    own: WorkloadIdentity
    # Server side only: the inbound port's Service (None: ``unknown``).
    service: DestinationService | None = None
    # Client side: read the Host header when the cluster has no Istio service metadata
    # (Istio does on sidecar outbound, not on gateways).
    host_fallback: bool = False


def _constant(value: str) -> str:
    # A tag's value is a format string: a literal ``%`` must be doubled.
    return (value or UNKNOWN).replace("%", "%%")


def cluster_service_format(field: str) -> str:
    """The destination service's ``host``, ``name`` or ``namespace`` that translation put on
    the upstream cluster (``naming.SERVICE_METADATA_NAMESPACE``, flat copies of Istio's
    ``istio.services[0]``; ``name`` alone on PassthroughCluster and BlackHoleCluster)."""
    return f"%CLUSTER_METADATA({naming.SERVICE_METADATA_NAMESPACE}:{field})%"


def passthrough_authority_format() -> str:
    """The request's authority, which the ``allow_any`` route's own ``header_to_metadata``
    config stores (``xds.telemetry_peer.passthrough_route_config``): Istio's destination_service for a cluster
    without service metadata on a sidecar's outbound."""
    return f"%DYNAMIC_METADATA({naming.PEER_METADATA_NAMESPACE}:{AUTHORITY_KEY})%"


# Istio's ``request_protocol`` and ``connection_security_policy`` come from one formatter each,
# turned into Istio's words by the tag's rules (a prefix or empty match per stat, ~free), not by
# CEL (an evaluation costs microseconds).
CONTENT_TYPE_FORMAT = "%REQ(content-type)%"
PEER_CERTIFICATE_FORMAT = "%DOWNSTREAM_PEER_FINGERPRINT_256%"


def _client_service(spec: MetricsSpec) -> tuple[str, str, str]:
    """``destination_service``, ``_name``, ``_namespace`` on a client: the cluster's service;
    without one, the Host header (sidecar outbound: only the ``allow_any`` route stores it) or
    ``unknown`` (the tag's rule), as Istio's stats filter falls back."""
    host = cluster_service_format("host")
    if spec.host_fallback:
        # Never both: PassthroughCluster has no host, a service cluster no ``allow_any`` route.
        host += passthrough_authority_format()
    return host, cluster_service_format("name"), cluster_service_format("namespace")


def _workload_tags(spec: MetricsSpec, *, exchanged: bool) -> list[tuple[str, str]]:
    """``exchanged``: the peer's workload comes from the HTTP peer exchange's metadata; False
    (``tcp_proxy``: stock Envoy has no TCP exchange, see docs/observability.md) makes every peer
    workload label the constant ``unknown``, Istio's value for a peer it cannot read (a
    ``%DYNAMIC_METADATA%`` nothing set renders empty)."""
    own = {field: _constant(spec.own.value(field)) for field in PEER_FIELDS}
    if exchanged:
        peer = {field: peer_metadata_format(field) for field in PEER_FIELDS}
    else:
        peer = dict.fromkeys(PEER_FIELDS, UNKNOWN)
    source, destination = (own, peer) if spec.reporter == "source" else (peer, own)
    if spec.reporter == "source":
        source_principal = "%UPSTREAM_LOCAL_URI_SAN%"
        destination_principal = "%UPSTREAM_PEER_URI_SAN%"
        service, service_name, service_namespace = _client_service(spec)
    else:
        source_principal = "%DOWNSTREAM_PEER_URI_SAN%"
        destination_principal = "%DOWNSTREAM_LOCAL_URI_SAN%"
        known = spec.service
        service = _constant(known.host if known else "")
        service_name = _constant(known.name if known else "")
        service_namespace = _constant(known.namespace if known else "")
    return [
        ("reporter", spec.reporter),
        ("source_workload", source["workload"]),
        ("source_canonical_service", source["canonical_service"]),
        ("source_canonical_revision", source["canonical_revision"]),
        ("source_workload_namespace", source["namespace"]),
        ("source_principal", source_principal),
        ("source_app", source["app"]),
        ("source_version", source["version"]),
        ("source_cluster", source["cluster"]),
        ("destination_workload", destination["workload"]),
        ("destination_workload_namespace", destination["namespace"]),
        ("destination_principal", destination_principal),
        ("destination_app", destination["app"]),
        ("destination_version", destination["version"]),
        ("destination_service", service),
        ("destination_canonical_service", destination["canonical_service"]),
        ("destination_canonical_revision", destination["canonical_revision"]),
        ("destination_service_name", service_name),
        ("destination_service_namespace", service_namespace),
        ("destination_cluster", destination["cluster"]),
    ]


def _security_policy(spec: MetricsSpec) -> str:
    # Istio: the client cannot tell, so ``unknown``; the server says whether the peer presented
    # a certificate on this connection (CEL's ``connection.mtls``: a peer certificate's digest).
    if spec.reporter == "source":
        return UNKNOWN
    return PEER_CERTIFICATE_FORMAT


def http_tags(spec: MetricsSpec) -> list[tuple[str, str]]:
    """Istio's HTTP label set, in its order (``istio_stats.cc``)."""
    return [
        *_workload_tags(spec, exchanged=True),
        ("request_protocol", CONTENT_TYPE_FORMAT),
        ("response_code", "%RESPONSE_CODE%"),
        # Empty for non-gRPC responses, as Istio's.
        ("grpc_response_status", "%GRPC_STATUS_NUMBER%"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("connection_security_policy", _security_policy(spec)),
    ]


def tcp_tags(spec: MetricsSpec) -> list[tuple[str, str]]:
    return [
        *_workload_tags(spec, exchanged=False),
        ("request_protocol", "tcp"),
        ("response_flags", "%RESPONSE_FLAGS%"),
        ("connection_security_policy", _security_policy(spec)),
    ]


def _tag(name: str, value_format: str) -> stats_pb2.Config.Tag:
    tag = _Tag(name=name, value_format=value_format)
    rules = _TAG_RULES.get((name, value_format))
    formatted = "%" in value_format.replace("%%", "")  # a constant is never empty
    if rules is None and name in _UNKNOWN_WHEN_EMPTY_TAGS and formatted:
        rules = _UNKNOWN_WHEN_EMPTY
    if rules is not None:
        tag.MergeFromString(rules)
    return tag


def _stat(name: str, tags: Sequence[tuple[str, str]]) -> stats_pb2.Config.Stat:
    return stats_pb2.Config.Stat(name=name, tags=[_tag(key, value) for key, value in tags])


def _counter(
    name: str, tags: Sequence[tuple[str, str]], value_format: str = ""
) -> stats_pb2.Config.Counter:
    counter = stats_pb2.Config.Counter(stat=_stat(name, tags))
    if value_format:
        counter.value_format = value_format
    else:
        counter.value_fixed.CopyFrom(wrappers_pb2.UInt64Value(value=1))
    return counter


def _histogram(
    name: str, tags: Sequence[tuple[str, str]], unit: int, value_format: str
) -> stats_pb2.Config.Histogram:
    return stats_pb2.Config.Histogram(
        stat=_stat(name, tags),
        unit=unit,
        value_format=value_format,
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _uint32_value(field: int, value: int) -> bytes:
    # google.protobuf.UInt32Value { uint32 value = 1; }
    return _length_delimited(field, _varint(1 << 3 | 0) + _varint(value))


def _update_tag(value: str) -> matcher_pb2.Matcher.OnMatch:
    """``TransformStat.update_tag`` (field 3; ``new_tag_value``, field 2): not in our
    xds-protos, so written as raw bytes."""
    found = matcher_pb2.Matcher.OnMatch()
    found.action.name = "envoy.matching.actions.transform_stat"
    found.action.typed_config.type_url = f"type.googleapis.com/{_TRANSFORM_STAT}"
    found.action.typed_config.value = _length_delimited(3, _length_delimited(2, value.encode()))
    return found


def _tag_rules(
    match: str, on_match: str, on_no_match: str | None = None, *, prefix: bool = False
) -> bytes:
    """``Tag.rules`` (field 3, an xDS matcher; not in our xds-protos): when the tag's own value
    (``StatTagValueInput``) equals (or starts with) ``match``, it becomes ``on_match``; else
    ``on_no_match`` (None: left as it is)."""
    matcher = matcher_pb2.Matcher()
    rule = matcher.matcher_list.matchers.add()
    single = rule.predicate.single_predicate
    single.input.name = "envoy.matching.inputs.stat_tag_value"
    single.input.typed_config.type_url = f"type.googleapis.com/{_TAG_VALUE_INPUT}"
    if prefix:
        single.value_match.prefix = match
    else:
        single.value_match.exact = match
    rule.on_match.CopyFrom(_update_tag(on_match))
    if on_no_match is not None:
        matcher.on_no_match.CopyFrom(_update_tag(on_no_match))
    return _length_delimited(3, matcher.SerializeToString(deterministic=True))


# Empty (no certificate, no cluster, no service metadata) reads ``unknown``, as in Istio; only
# on these tags: ``grpc_response_status`` must stay empty.
_UNKNOWN_WHEN_EMPTY = _tag_rules("", UNKNOWN)
_UNKNOWN_WHEN_EMPTY_TAGS = frozenset(
    {
        "source_principal",
        "destination_principal",
        "destination_service",
        "destination_service_name",
        "destination_service_namespace",
    }
)
_TAG_RULES: dict[tuple[str, str], bytes] = {
    ("request_protocol", CONTENT_TYPE_FORMAT): _tag_rules(
        "application/grpc", "grpc", "http", prefix=True
    ),
    ("connection_security_policy", PEER_CERTIFICATE_FORMAT): _tag_rules("", "none", "mutual_tls"),
}


def stats_scope_field() -> bytes:
    """``Config.stats_scope`` (field 6, ``envoy.type.v3.Scope``) on the wire: prefix ``istio``
    (field 5), ``max_counters`` (1) and ``max_histograms`` (3)."""
    scope = (
        _uint32_value(1, MAX_COUNTERS)
        + _uint32_value(3, MAX_HISTOGRAMS)
        + _length_delimited(5, naming.ISTIO_STATS_PREFIX.encode())
    )
    return _length_delimited(6, scope)


def _logger(
    config: stats_pb2.Config, log_filter: accesslog_pb2.AccessLogFilter | None
) -> accesslog_pb2.AccessLog:
    config.MergeFromString(stats_scope_field())
    logger = accesslog_pb2.AccessLog(name=STATS_LOGGER)
    logger.typed_config.Pack(config)
    if log_filter is not None:
        logger.filter.CopyFrom(log_filter)
    return logger


def _kept(
    overrides: Overrides, tags: Sequence[tuple[str, str]], stat: str, taken: frozenset[str]
) -> list[tuple[str, str]] | None:
    """The stat's tags after the Telemetry overrides, or None when it is disabled or a Mixer
    prometheus handler on this proxy defines a metric of its name (``taken``: the handler's
    replaces it, as in Istio 1.0/1.1 where the standard metrics were that handler's)."""
    if stat in taken or not stat_enabled(overrides, stat):
        return None
    return with_tag_overrides(tags, overrides, stat)


def http_metrics_loggers(
    spec: MetricsSpec, overrides: Overrides | None = None, taken: frozenset[str] = frozenset()
) -> list[accesslog_pb2.AccessLog]:
    """``istio_requests_total``, ``istio_request_duration_milliseconds``, ``istio_request_bytes``,
    ``istio_response_bytes`` (sizes are wire bytes, as Istio's byte meters); ``overrides``: the
    Telemetry API's per-stat changes (``xds.telemetry_api``); ``taken``: stat names a Mixer
    prometheus handler defines on this proxy (left out here)."""
    tags = http_tags(spec)
    changes = overrides or {}
    unit = stats_pb2.Config.Histogram
    counters = [
        _counter(stat, found)
        for stat in ("requests_total",)
        if (found := _kept(changes, tags, stat, taken)) is not None
    ]
    histograms = [
        _histogram(stat, found, kind, value)
        for stat, kind, value in (
            ("request_duration_milliseconds", unit.Milliseconds, "%DURATION%"),
            ("request_bytes", unit.Bytes, "%DOWNSTREAM_WIRE_BYTES_RECEIVED%"),
            ("response_bytes", unit.Bytes, "%DOWNSTREAM_WIRE_BYTES_SENT%"),
        )
        if (found := _kept(changes, tags, stat, taken)) is not None
    ]
    if not counters and not histograms:
        return []
    return [_logger(_Config(counters=counters, histograms=histograms), None)]


def log_type_filter(*types: int) -> accesslog_pb2.AccessLogFilter:
    return accesslog_pb2.AccessLogFilter(
        log_type_filter=accesslog_pb2.LogTypeFilter(types=list(types))
    )


def tcp_metrics_loggers(
    spec: MetricsSpec, overrides: Overrides | None = None, taken: frozenset[str] = frozenset()
) -> list[accesslog_pb2.AccessLog]:
    """Opened connections when the upstream connects (``tcp_proxy`` must flush its access log
    on connect), closed connections and byte totals when the connection ends."""
    tags = tcp_tags(spec)
    changes = overrides or {}
    kinds = accesslog_data_pb2.AccessLogType
    opened = [
        _counter(stat, found)
        for stat in ("tcp_connections_opened_total",)
        if (found := _kept(changes, tags, stat, taken)) is not None
    ]
    closed = [
        _counter(stat, found, value)
        for stat, value in (
            ("tcp_connections_closed_total", ""),
            ("tcp_sent_bytes_total", "%BYTES_SENT%"),
            ("tcp_received_bytes_total", "%BYTES_RECEIVED%"),
        )
        if (found := _kept(changes, tags, stat, taken)) is not None
    ]
    loggers = []
    if opened:
        loggers.append(
            _logger(_Config(counters=opened), log_type_filter(kinds.TcpUpstreamConnected))
        )
    if closed:
        loggers.append(_logger(_Config(counters=closed), log_type_filter(kinds.TcpConnectionEnd)))
    return loggers
