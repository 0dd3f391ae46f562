"""The Telemetry API's part of the telemetry pass (``xds.telemetry``): what the resolved
Telemetry (``snapshot.telemetry``) changes on a proxy's metrics and access logs.

- Metrics: on when a provider in scope is a ``prometheus`` one. Per mode (client: sidecar
  outbound and gateways; server: sidecar inbound) an override may disable a metric (its
  counter or histogram is left out of the stats logger), remove a tag, or upsert one with a
  CEL value (``%CEL(expr)%`` in the stats logger's tag: evaluated by Envoy per stat, with
  Envoy's attributes — ``request.*``, ``response.*``, ``connection.*``, ``xds.*`` — not
  Istio's peer attributes such as ``upstream_peer``). Custom metrics and the two gRPC message
  metrics have nothing to act on (we produce neither).
- Access logs: ``None`` from the resolution keeps MeshConfig's ``accessLogFile``; otherwise one
  file logger per ``envoyFileAccessLog`` provider (path; ``logFormat.text`` or ``labels``, else
  Istio's default text format), gated by the entry's CEL ``filter``
  (``envoy.access_loggers.extension_filters.cel``). Other provider kinds are not built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import substitution_format_string_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2

from mainsail.config.extension_providers import EnvoyFileAccessLog
from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.telemetry import (
    LogProvider,
    MetricOverride,
    ResolvedTelemetry,
    fetch_provider,
)
from mainsail.xds.telemetry_logs import ACCESS_LOG_METADATA, FILE_LOGGER, ISTIO_TEXT_FORMAT, STDOUT

CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
Overrides = Mapping[str, MetricOverride]

# Istio's metric enum → the stat our stats loggers emit (``xds.telemetry_metrics``).
METRIC_STATS: Mapping[str, str] = {
    "REQUEST_COUNT": "requests_total",
    "REQUEST_DURATION": "request_duration_milliseconds",
    "REQUEST_SIZE": "request_bytes",
    "RESPONSE_SIZE": "response_bytes",
    "TCP_OPENED_CONNECTIONS": "tcp_connections_opened_total",
    "TCP_CLOSED_CONNECTIONS": "tcp_connections_closed_total",
    "TCP_SENT_BYTES": "tcp_sent_bytes_total",
    "TCP_RECEIVED_BYTES": "tcp_received_bytes_total",
}


def metric_overrides(mesh: MeshConfig, resolved: ResolvedTelemetry, mode: str) -> Overrides | None:
    """The overrides of the first ``prometheus`` provider in scope, by stat name; None when no
    such provider is (metrics off)."""
    for found in resolved.metrics:
        provider = fetch_provider(mesh, found.provider)
        if provider is not None and provider.prometheus is not None:
            return {
                METRIC_STATS[metric]: override
                for metric, override in found.for_mode(mode).items()
                if metric in METRIC_STATS
            }
    return None


def stat_enabled(overrides: Overrides, stat: str) -> bool:
    override = overrides.get(stat)
    return override is None or not override.disabled


def with_tag_overrides(
    tags: Sequence[tuple[str, str]], overrides: Overrides, stat: str
) -> list[tuple[str, str]]:
    """``tags`` with the stat's overrides applied: REMOVE drops a tag, UPSERT replaces its value
    in place or appends a new tag, its value a CEL expression."""
    override = overrides.get(stat)
    if override is None or not override.tags:
        return list(tags)
    changes = {change.name: change for change in override.tags}
    out = [
        (name, _cel(changes[name].value) if name in changes else value)
        for name, value in tags
        if name not in changes or not changes[name].remove
    ]
    known = {name for name, _ in tags}
    out += [(c.name, _cel(c.value)) for c in override.tags if not c.remove and c.name not in known]
    return out


def _cel(expression: str) -> str:
    return f"%CEL({expression})%"


def _path(provider: EnvoyFileAccessLog, node: ProxyNode) -> str:
    path = provider.path or STDOUT
    if path == STDOUT:
        # The pod's own file on the local platform (``xds.telemetry_logs``).
        return dict(node.extra).get(ACCESS_LOG_METADATA) or path
    return path


def _format(
    provider: EnvoyFileAccessLog,
) -> substitution_format_string_pb2.SubstitutionFormatString:
    formatted = substitution_format_string_pb2.SubstitutionFormatString()
    log_format = provider.log_format
    if log_format is not None and log_format.labels:
        formatted.json_format.update(dict(log_format.labels))
        return formatted
    text = (log_format.text if log_format is not None else None) or ISTIO_TEXT_FORMAT
    if not text.endswith("\n"):
        text += "\n"  # istiod adds the newline a custom format lacks
    formatted.text_format_source.inline_string = text
    return formatted


def cel_filter(expression: str) -> accesslog_pb2.AccessLogFilter:
    log_filter = accesslog_pb2.AccessLogFilter()
    log_filter.extension_filter.name = CEL_FILTER
    log_filter.extension_filter.typed_config.Pack(cel_pb2.ExpressionFilter(expression=expression))
    return log_filter


def _and(
    first: accesslog_pb2.AccessLogFilter | None, second: accesslog_pb2.AccessLogFilter | None
) -> accesslog_pb2.AccessLogFilter | None:
    if first is None or second is None:
        return first or second
    both = accesslog_pb2.AccessLogFilter()
    both.and_filter.filters.extend([first, second])
    return both


def _file_logger(
    provider: EnvoyFileAccessLog,
    chosen: LogProvider,
    node: ProxyNode,
    log_filter: accesslog_pb2.AccessLogFilter | None,
) -> accesslog_pb2.AccessLog:
    logger = accesslog_pb2.AccessLog(name=FILE_LOGGER)
    logger.typed_config.Pack(
        file_pb2.FileAccessLog(path=_path(provider, node), log_format=_format(provider))
    )
    own = cel_filter(chosen.filter) if chosen.filter else None
    combined = _and(log_filter, own)
    if combined is not None:
        logger.filter.CopyFrom(combined)
    return logger


def telemetry_access_logs(
    mesh: MeshConfig,
    resolved: ResolvedTelemetry,
    mode: str,
    node: ProxyNode,
    log_filter: accesslog_pb2.AccessLogFilter | None = None,
) -> list[accesslog_pb2.AccessLog] | None:
    """The Telemetry access loggers of one mode; None: no Telemetry logging (MeshConfig's
    ``accessLogFile`` applies). ``log_filter``: what the caller needs too (TCP: at the end)."""
    chosen = resolved.logs_for(mode)
    if chosen is None:
        return None
    loggers: list[accesslog_pb2.AccessLog] = []
    for entry in chosen:
        provider = fetch_provider(mesh, entry.provider)
        if provider is not None and provider.envoy_file_access_log is not None:
            loggers.append(_file_logger(provider.envoy_file_access_log, entry, node, log_filter))
    return loggers


__all__ = [
    "CEL_FILTER",
    "METRIC_STATS",
    "cel_filter",
    "metric_overrides",
    "stat_enabled",
    "telemetry_access_logs",
    "with_tag_overrides",
]
