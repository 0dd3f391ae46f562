"""The book's Mixer rules compiled into Envoy access loggers, per proxy and listener.

Reads: the snapshot's resolved Mixer rules (``config.mixer.resolve``), the proxy node (its own
workload, labels) and the Services of its inbound ports. For each rule that applies to the
proxy's namespace (rules in ``istio-system`` apply everywhere, as Mixer's default config
namespace) and each of its actions:

- ``prometheus`` handler with ``metric`` instance: a stats access logger (``envoy.access_loggers
  .stats``) with the handler's metric for that instance (``instance_name``), named ``<name>``
  in the ``istio`` scope — Mixer's adapter exported ``istio_<name>``, and the bootstrap's
  ``:15090`` listener prints the scope as ``istio_``; a standard metric of the same name is left
  out on that proxy (``xds.mixer_metric_names``: in Istio 1.0/1.1 the handler *was* the standard
  metrics), and of two handlers' metrics of one name with other labels the first stays. COUNTER: the value is added
  (``"1"``: one per request); DISTRIBUTION: a histogram (durations in milliseconds); label values
  in ``label_names`` order, each the instance dimension compiled to a formatter.
- ``stdio`` handler with ``logentry``: a JSON file access log line per request with Mixer's stdio
  keys (``level``, ``time``, ``instance``) and the instance's variables, to the pod's access
  log file (``STDOUT``; the agent's ``MAINSAIL_ACCESS_LOG``) or ``outputPath``.
- ``fluentd`` handler with ``logentry``: ``envoy.access_loggers.fluentd`` to the handler's address
  (the bootstrap cluster ``mixer-handler|fluentd``, endpoint from ``mixer_endpoints``), tag = the instance's full name, record = the variables plus
  ``severity``.

The rule's ``match`` is a CEL access-log filter; on a ``tcp_proxy`` the loggers run when the
connection ends. Identity attributes are compiled per proxy: the proxy's own workload as
constants, the peer's from the peer exchange's dynamic metadata, principals from certificates.
Pure.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import address_pb2, substitution_format_string_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.data.accesslog.v3 import accesslog_pb2 as accesslog_data_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.access_loggers.fluentd.v3 import fluentd_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from mainsail import naming
from mainsail.config.mixer.attributes import ValueType
from mainsail.config.mixer.cel import cel_string, entry_key, to_cel, to_format
from mainsail.config.mixer.cexl import CexlError, Expr
from mainsail.config.mixer.cexl import Literal as CexlLiteral
from mainsail.config.mixer.check import check
from mainsail.config.mixer.fold import Constant, fold
from mainsail.config.mixer.models import (
    FluentdParams,
    LogEntryParams,
    MetricParams,
    PrometheusMetric,
    PrometheusParams,
    StdioParams,
)
from mainsail.config.mixer.resolve import ResolvedHandler, ResolvedInstance, ResolvedRule
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.mixer_metric_names import metric_owners, prometheus_stat_name
from mainsail.xds.telemetry_logs import ACCESS_LOG_METADATA
from mainsail.xds.telemetry_metrics import stats_scope_field
from mainsail.xds.telemetry_peer import PEER_KEY, UNKNOWN

MixerDirection = Literal["inbound", "outbound", "gateway"]
Protocol = Literal["http", "tcp"]

FLUENTD_LOGGER = "envoy.access_loggers.fluentd"
FILE_LOGGER = "envoy.access_loggers.file"
STATS_LOGGER = "envoy.access_loggers.stats"
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
_CEL_FILTER_TYPE = "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"
# Mixer's fluentd adapter pushed batches every second or so; Envoy's default flush is 1 s too.
FLUENTD_FLUSH = duration_pb2.Duration(seconds=1)

_GRPC = (
    "('content-type' in request.headers && "
    "request.headers['content-type'].startsWith('application/grpc'))"
)


def _peer(field: str) -> str:
    # The peer exchange stores one struct (``xds.telemetry_peer``).
    ns = cel_string(naming.PEER_METADATA_NAMESPACE)
    key, name = cel_string(PEER_KEY), cel_string(field)
    stored = f"metadata.filter_metadata[{ns}]"
    return (
        f"(({ns} in metadata.filter_metadata && {key} in {stored} && {name} in {stored}[{key}])"
        f" ? {stored}[{key}][{name}] : {cel_string(UNKNOWN)})"
    )


def _known(attribute: str) -> str:
    """A certificate attribute, ``unknown`` without TLS (CEL fails on a missing one)."""
    return f"(has({attribute}) ? {attribute} : {cel_string(UNKNOWN)})"


_ISTIO = "xds.cluster_metadata.filter_metadata.istio"


def _cluster_service(field: str) -> str:
    has = f"has(xds.cluster_metadata) && has({_ISTIO}) && has({_ISTIO}.services)"
    return f"(({has}) ? {_ISTIO}.services[0].{field} : {cel_string(UNKNOWN)})"


def _side(
    prefix: str, workload: str, namespace: str, labels: str, principal: str, uid: str
) -> dict[str, str]:
    return {
        f"{prefix}.workload.name": workload,
        f"{prefix}.name": workload,
        f"{prefix}.workload.namespace": namespace,
        f"{prefix}.namespace": namespace,
        f"{prefix}.labels": labels,
        f"{prefix}.principal": principal,
        f"{prefix}.user": principal,
        f"{prefix}.uid": uid,
        f"{prefix}.workload.uid": uid,
        f"{prefix}.owner": uid,
        f"{prefix}.serviceAccount": cel_string(UNKNOWN),
    }


def attribute_sources(
    view: ProxyView, direction: MixerDirection, protocol: Protocol, port: int
) -> dict[str, str]:
    """CEL for each identity attribute on this proxy, listener and protocol."""
    node = view.node
    own_labels = "{" + ", ".join(f"{cel_string(k)}: {cel_string(v)}" for k, v in node.labels) + "}"
    own_uid = cel_string(f"kubernetes://{node.pod_name}.{node.namespace}")
    # The peer exchange carries only the app and version labels of the peer.
    peer_labels = f"{{'app': {_peer('app')}, 'version': {_peer('version')}}}"
    peer = "source" if direction == "inbound" else "destination"
    own_workload = cel_string(node.workload_name or node.pod_name)
    peer_uid = cel_string(UNKNOWN)
    own_app = cel_string(node.label_map.get("app", UNKNOWN))
    sources: dict[str, str] = {
        entry_key(f"{peer}.labels", "app"): _peer("app"),
        entry_key(f"{peer}.labels", "version"): _peer("version"),
        "context.protocol": "'tcp'" if protocol == "tcp" else f"({_GRPC} ? 'grpc' : 'http')",
        "context.reporter.kind": cel_string("inbound" if direction == "inbound" else "outbound"),
        "context.reporter.uid": own_uid,
    }
    if direction == "inbound":
        sources |= _side(
            "source", _peer("workload"), _peer("namespace"), peer_labels,
            _known("connection.uri_san_peer_certificate"), peer_uid,
        )  # fmt: skip
        sources |= _side(
            "destination", own_workload, cel_string(node.namespace), own_labels,
            _known("connection.uri_san_local_certificate"), own_uid,
        )  # fmt: skip
        service = _inbound_service(view, port)
        host, name, namespace = service or (UNKNOWN, UNKNOWN, UNKNOWN)
        sources |= {
            "destination.service.host": cel_string(host),
            "destination.service.name": cel_string(name),
            "destination.service.namespace": cel_string(namespace),
            "destination.service.uid": cel_string(UNKNOWN),
            "source.service": _peer("app"),
            "destination.service": cel_string(host),
        }
    else:
        sources |= _side(
            "source", own_workload, cel_string(node.namespace), own_labels,
            _known("upstream.uri_san_local_certificate"), own_uid,
        )  # fmt: skip
        sources |= _side(
            "destination", _peer("workload"), _peer("namespace"), peer_labels,
            _known("upstream.uri_san_peer_certificate"), peer_uid,
        )  # fmt: skip
        sources |= {
            "destination.service.host": _cluster_service("host"),
            "destination.service.name": _cluster_service("name"),
            "destination.service.namespace": _cluster_service("namespace"),
            "destination.service.uid": cel_string(UNKNOWN),
            "source.service": own_app,
            "destination.service": _cluster_service("host"),
        }
    return sources


def _inbound_service(view: ProxyView, port: int) -> tuple[str, str, str] | None:
    for endpoint in view.inbound:
        if endpoint.port == port:
            service = view.inbound_service(endpoint.hostname)
            if service is not None:
                return service.hostname, service.name, service.namespace
    return None


def attribute_constants(
    view: ProxyView, direction: MixerDirection, protocol: Protocol, port: int
) -> dict[str, Constant]:
    """What is known about the attributes when this listener's config is built."""
    node = view.node
    own = "destination" if direction == "inbound" else "source"
    uid = f"kubernetes://{node.pod_name}.{node.namespace}"
    constants: dict[str, Constant] = {
        "context.reporter.kind": "inbound" if direction == "inbound" else "outbound",
        "context.protocol": "tcp" if protocol == "tcp" else frozenset({"http", "grpc"}),
        "context.reporter.uid": uid,
        f"{own}.workload.name": node.workload_name or node.pod_name,
        f"{own}.name": node.workload_name or node.pod_name,
        f"{own}.workload.namespace": node.namespace,
        f"{own}.namespace": node.namespace,
        f"{own}.labels": dict(node.labels),
        f"{own}.uid": uid,
        f"{own}.workload.uid": uid,
        f"{own}.owner": uid,
    }
    if direction == "inbound":
        host, name, namespace = _inbound_service(view, port) or (UNKNOWN, UNKNOWN, UNKNOWN)
        constants |= {
            "destination.service.host": host,
            "destination.service": host,
            "destination.service.name": name,
            "destination.service.namespace": namespace,
        }
    else:
        constants["source.service"] = node.label_map.get("app", UNKNOWN)
    return constants


@dataclass(frozen=True, slots=True)
class _Attributes:
    """Per listener: CEL for every identity attribute, and the ones known outright."""

    sources: Mapping[str, str]
    constants: Mapping[str, Constant]


@functools.lru_cache(maxsize=4096)
def _checked(text: str) -> tuple[Expr, ValueType]:
    """The syntax tree and type of an expression validation accepted (the same few texts
    are compiled for every listener of every proxy: parse each once)."""
    return check(text)


def _format(text: str, attributes: _Attributes) -> str:
    return to_format(fold(_checked(text)[0], attributes.constants), attributes.sources)


_NEVER = accesslog_pb2.AccessLogFilter()  # marker: the rule cannot match on this listener


def _match_filter(
    rule: ResolvedRule, attributes: _Attributes, protocol: Protocol
) -> accesslog_pb2.AccessLogFilter | None:
    filters: list[accesslog_pb2.AccessLogFilter] = []
    if protocol == "tcp":
        end = accesslog_data_pb2.AccessLogType.TcpConnectionEnd
        filters.append(
            accesslog_pb2.AccessLogFilter(log_type_filter=accesslog_pb2.LogTypeFilter(types=[end]))
        )
    expr, value_type = _checked(rule.match or "true")
    if value_type is not ValueType.BOOL:
        raise CexlError(1, f"a rule's match must be BOOL, not {value_type.value}")
    match = fold(expr, attributes.constants)
    if isinstance(match, CexlLiteral) and match.value is False:
        return _NEVER
    if not isinstance(match, CexlLiteral):
        expression = to_cel(match, attributes.sources)
        cel = accesslog_pb2.AccessLogFilter()
        cel.extension_filter.name = CEL_FILTER
        cel.extension_filter.typed_config.Pack(cel_pb2.ExpressionFilter(expression=expression))
        filters.append(cel)
    if not filters:
        return None
    if len(filters) == 1:
        return filters[0]
    return accesslog_pb2.AccessLogFilter(and_filter=accesslog_pb2.AndFilter(filters=filters))


def _is_one(text: str) -> bool:
    return text.strip() in ('"1"', "1")


def _metric_stat(
    metric: PrometheusMetric, instance: MetricParams, attributes: _Attributes
) -> stats_pb2.Config.Stat:
    tags = []
    for label in metric.label_names:
        expression = instance.dimensions.get(label)
        value = _format(expression, attributes) if expression else ""
        tags.append(stats_pb2.Config.Tag(name=label, value_format=value))
    return stats_pb2.Config.Stat(name=prometheus_stat_name(metric), tags=tags)


def _prometheus(
    handler: PrometheusParams,
    instances: Sequence[ResolvedInstance],
    attributes: _Attributes,
    owners: Mapping[str, tuple[str, ...]],
) -> stats_pb2.Config | None:
    config = stats_pb2.Config()
    for instance in instances:
        params = instance.params
        if not isinstance(params, MetricParams):
            continue
        for metric in handler.metrics:
            if metric.instance_name != instance.full_name:
                continue
            if owners.get(prometheus_stat_name(metric)) != metric.label_names:
                continue  # another handler's metric of that name has other labels
            stat = _metric_stat(metric, params, attributes)
            if metric.kind == "DISTRIBUTION":
                value_type = _checked(params.value)[1]
                unit = stats_pb2.Config.Histogram
                config.histograms.append(
                    unit(
                        stat=stat,
                        unit=unit.Milliseconds
                        if value_type is ValueType.DURATION
                        else unit.Unspecified,
                        value_format=_format(params.value, attributes),
                    )
                )
            else:
                # GAUGE: Envoy's stats logger has counters and histograms only; Mixer's
                # gauges were set per report, which a counter of the value approximates.
                counter = stats_pb2.Config.Counter(stat=stat)
                if _is_one(params.value):
                    counter.value_fixed.CopyFrom(wrappers_pb2.UInt64Value(value=1))
                else:
                    counter.value_format = _format(params.value, attributes)
                config.counters.append(counter)
    if not config.counters and not config.histograms:
        return None
    config.MergeFromString(stats_scope_field())
    return config


def _variables(instance: LogEntryParams, attributes: _Attributes) -> dict[str, str]:
    return {key: _format(text, attributes) for key, text in sorted(instance.variables.items())}


def _severity(instance: LogEntryParams, attributes: _Attributes) -> str:
    return _format(instance.severity, attributes) if instance.severity else "info"


def _stdio(
    handler: ResolvedHandler,
    instance: ResolvedInstance,
    view: ProxyView,
    attributes: _Attributes,
) -> file_pb2.FileAccessLog | None:
    params, template = handler.params, instance.params
    if not isinstance(params, StdioParams) or not isinstance(template, LogEntryParams):
        return None
    path = params.output_path if params.log_stream in ("FILE", "ROTATED_FILE") else ""
    if not path:
        default = "/dev/stderr" if params.log_stream == "STDERR" else "/dev/stdout"
        path = dict(view.node.extra).get(ACCESS_LOG_METADATA) or default
    line = {
        "level": _severity(template, attributes),
        "time": _format(template.timestamp, attributes) if template.timestamp else "%START_TIME%",
        "instance": instance.full_name,
        **_variables(template, attributes),
    }
    formatted = substitution_format_string_pb2.SubstitutionFormatString()
    formatted.json_format.update(line)
    return file_pb2.FileAccessLog(path=path, log_format=formatted)


def _fluentd(
    handler: ResolvedHandler, instance: ResolvedInstance, attributes: _Attributes
) -> fluentd_pb2.FluentdAccessLogConfig | None:
    template = instance.params
    if not isinstance(handler.params, FluentdParams) or not isinstance(template, LogEntryParams):
        return None
    config = fluentd_pb2.FluentdAccessLogConfig(
        cluster=naming.MIXER_FLUENTD_CLUSTER,
        tag=instance.full_name,
        stat_prefix=f"{naming.MIXER_STATS_PREFIX}_{handler.name}",
        buffer_flush_interval=FLUENTD_FLUSH,
    )
    config.record.update(
        {"severity": _severity(template, attributes), **_variables(template, attributes)}
    )
    return config


def _logger(
    name: str, config: object, log_filter: accesslog_pb2.AccessLogFilter | None
) -> accesslog_pb2.AccessLog:
    logger = accesslog_pb2.AccessLog(name=name)
    logger.typed_config.Pack(config)
    if log_filter is not None:
        logger.filter.CopyFrom(log_filter)
    return logger


def mixer_access_loggers(
    snapshot: MeshSnapshot,
    view: ProxyView,
    direction: MixerDirection,
    port: int,
    protocol: Protocol,
) -> list[accesslog_pb2.AccessLog]:
    """The access loggers the applicable Mixer rules make for one HCM or ``tcp_proxy``."""
    rules = [r for r in snapshot.mixer_rules if r.applies_to(view.node.namespace)]
    if not rules:
        return []
    attributes = _Attributes(
        attribute_sources(view, direction, protocol, port),
        attribute_constants(view, direction, protocol, port),
    )
    fluentd_target = _fluentd_handler(snapshot, view)
    owners = metric_owners(rules)
    loggers: list[accesslog_pb2.AccessLog] = []
    for rule in rules:
        try:
            loggers += _rule_loggers(rule, view, attributes, protocol, fluentd_target, owners)
        except CexlError:
            # Validation refuses such a rule at apply time; one that reached the store another
            # way is left out of this proxy's config, not allowed to break it (Mixer skipped it).
            continue
    return loggers


def _rule_loggers(
    rule: ResolvedRule,
    view: ProxyView,
    attributes: _Attributes,
    protocol: Protocol,
    fluentd_target: ResolvedHandler | None,
    owners: Mapping[str, tuple[str, ...]],
) -> list[accesslog_pb2.AccessLog]:
    log_filter = _match_filter(rule, attributes, protocol)
    if log_filter is _NEVER:
        return []
    loggers: list[accesslog_pb2.AccessLog] = []
    for action in rule.actions:
        handler = action.handler
        if isinstance(handler.params, PrometheusParams):
            stats = _prometheus(handler.params, action.instances, attributes, owners)
            if stats is not None:
                loggers.append(_logger(STATS_LOGGER, stats, log_filter))
            continue
        for instance in action.instances:
            if handler.adapter == "stdio":
                line = _stdio(handler, instance, view, attributes)
                if line is not None:
                    loggers.append(_logger(FILE_LOGGER, line, log_filter))
            elif handler.adapter == "fluentd" and handler == fluentd_target:
                record = _fluentd(handler, instance, attributes)
                if record is not None:
                    loggers.append(_logger(FLUENTD_LOGGER, record, log_filter))
    return loggers


def _fluentd_handler(snapshot: MeshSnapshot, view: ProxyView) -> ResolvedHandler | None:
    """The fluentd handler this proxy's rules send to: the first by namespace and name (the
    bootstrap has one fluentd cluster; a second address is not reached, see docs)."""
    found = [
        action.handler
        for rule in snapshot.mixer_rules
        if rule.applies_to(view.node.namespace)
        for action in rule.actions
        if isinstance(action.handler.params, FluentdParams)
        and _ip(action.handler.params.address.rpartition(":")[0]) is not None
    ]
    return min(found, key=lambda h: (h.namespace, h.name), default=None)


def mixer_endpoints(
    snapshot: MeshSnapshot, view: ProxyView
) -> list[endpoint_pb2.ClusterLoadAssignment]:
    """The endpoint of the bootstrap's fluentd cluster: the handler's address, or none (always
    sent, so a proxy's startup does not wait for it)."""
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=naming.MIXER_FLUENTD_CLUSTER)
    handler = _fluentd_handler(snapshot, view)
    if handler is not None and isinstance(handler.params, FluentdParams):
        host, _, port = handler.params.address.rpartition(":")
        socket = address_pb2.SocketAddress(address=_ip(host) or host, port_value=int(port))
        endpoint = endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(socket_address=socket)
            )
        )
        assignment.endpoints.append(
            endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])
        )
    return [assignment]


def _ip(host: str) -> str | None:
    """EDS endpoints are addresses: an IP, or ``localhost`` (the proxy's own host)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def fluentd_record_keys(instance: LogEntryParams) -> list[str]:
    """The record keys a fluentd receiver gets for ``instance`` (for tests and docs)."""
    return ["severity", *sorted(instance.variables)]
