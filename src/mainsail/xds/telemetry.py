"""Istio's standard metrics and access logs on every HCM and ``tcp_proxy`` of a proxy.

One pass over the listeners a proxy gets (``with_telemetry``, called by ``xds.generate``): each
HTTP connection manager and ``tcp_proxy`` is given what Istio's ``istio.stats`` and
``istio.metadata_exchange`` filters and its access log would do, built from stock Envoy parts:

- reporter: ``destination`` on a sidecar's inbound listeners, ``source`` on its outbound ones and
  on every gateway listener (istiod's rule: gateway listeners are OUTBOUND);
- HTTP: the peer exchange filters first (``xds.telemetry_peer``), then the stats access logger
  (``xds.telemetry_metrics``) and the file access log (``xds.telemetry_logs``);
- a standard metric whose name a Mixer prometheus handler on this proxy also defines is left
  out: Istio 1.0/1.1's standard metrics were that handler's, so a pod shows each name once,
  with the handler's labels (``xds.mixer_metric_names``);
- TCP: stats access loggers for opened (on upstream connect, so ``tcp_proxy`` flushes its access
  log then) and closed connections with byte totals, and the file log at connection end. TCP
  has no peer exchange (Istio's needs its own ALPN filter; docs/observability.md says why no
  stock part replaces it): the peer's workload labels are ``unknown``, principals still come
  from the certificates.

The Telemetry API (``snapshot.telemetry`` resolves, ``xds.telemetry_api`` translates) decides
per mode (client: outbound and gateway listeners; server: inbound) whether metrics are on, which
metrics and tags each stats logger has, and which access loggers (with CEL filters) apply. With
no Telemetry resource: MeshConfig ``defaultProviders.metrics`` without a ``prometheus`` provider
turns the metrics off, and the access log follows ``accessLogFile``. Pure: reads only the
snapshot's mesh and Telemetries and the proxy view.

Reads: MeshConfig (access log, default and extension providers), Telemetry resources, the proxy
node (namespace, workload, labels), the Services of its inbound ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.data.accesslog.v3 import accesslog_pb2 as accesslog_data_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.telemetry import ResolvedTelemetry, resolve_telemetry
from mainsail.snapshot.view import ProxyView
from mainsail.xds.mixer import mixer_access_loggers
from mainsail.xds.mixer_metric_names import mixer_metric_names
from mainsail.xds.telemetry_api import metric_overrides, telemetry_access_logs
from mainsail.xds.telemetry_logs import file_access_logs
from mainsail.xds.telemetry_metrics import (
    DestinationService,
    MetricsSpec,
    http_metrics_loggers,
    log_type_filter,
    tcp_metrics_loggers,
)
from mainsail.xds.telemetry_peer import Side, peer_filters, workload_identity
from mainsail.xds.telemetry_tracing import hcm_tracing

Direction = Literal["inbound", "outbound", "gateway"]

_HCM = "envoy.filters.network.http_connection_manager"
_TCP_PROXY = "envoy.filters.network.tcp_proxy"


def metrics_enabled(mesh: MeshConfig) -> bool:
    """MeshConfig alone (no Telemetry resources): are Istio's metrics on?"""
    return metric_overrides(mesh, resolve_telemetry((), mesh, "", {}), "CLIENT") is not None


def resolved_for(snapshot: MeshSnapshot, view: ProxyView) -> ResolvedTelemetry:
    """The Telemetry resources (and MeshConfig defaults) that apply to this proxy."""
    node = view.node
    return resolve_telemetry(snapshot.telemetries, snapshot.mesh, node.namespace, node.label_map)


def _mode(direction: Direction) -> str:
    # istiod's workloadMode: inbound is SERVER; outbound and gateway listeners are CLIENT.
    return "SERVER" if direction == "inbound" else "CLIENT"


def _access_logs(
    mesh: MeshConfig,
    resolved: ResolvedTelemetry,
    direction: Direction,
    node: ProxyNode,
    log_filter: accesslog_pb2.AccessLogFilter | None = None,
) -> list[accesslog_pb2.AccessLog]:
    found = telemetry_access_logs(mesh, resolved, _mode(direction), node, log_filter)
    # No Telemetry access logging: MeshConfig's accessLogFile (istiod's fallback).
    return file_access_logs(mesh, node, log_filter) if found is None else found


def inbound_service(view: ProxyView, port: int) -> DestinationService | None:
    """The Service whose port targets this workload port (the first, as istiod's inbound
    cluster metadata lists it first)."""
    for endpoint in view.inbound:
        if endpoint.port != port:
            continue
        service = view.inbound_service(endpoint.hostname)
        if service is None:
            return None
        return DestinationService(
            host=service.hostname, name=service.name, namespace=service.namespace
        )
    return None


def _spec(view: ProxyView, direction: Direction, port: int) -> MetricsSpec:
    own = workload_identity(view.node)
    if direction == "inbound":
        return MetricsSpec(reporter="destination", own=own, service=inbound_service(view, port))
    return MetricsSpec(reporter="source", own=own, host_fallback=direction == "outbound")


def http_telemetry(
    mesh: MeshConfig,
    view: ProxyView,
    direction: Direction,
    port: int,
    resolved: ResolvedTelemetry | None = None,
    mixer_names: frozenset[str] = frozenset(),
) -> tuple[list[hcm_pb2.HttpFilter], list[accesslog_pb2.AccessLog]]:
    """(filters to put first on the HCM, its access loggers). ``resolved``: the proxy's
    Telemetry (None: MeshConfig only); ``mixer_names``: stats the proxy's Mixer prometheus
    handlers define, whose standard namesakes are left out (``xds.mixer_metric_names``)."""
    resolved = resolved or resolve_telemetry((), mesh, "", {})
    filters: list[hcm_pb2.HttpFilter] = []
    loggers: list[accesslog_pb2.AccessLog] = []
    overrides = metric_overrides(mesh, resolved, _mode(direction))
    if overrides is not None:
        side: Side = "server" if direction == "inbound" else "client"
        filters = peer_filters(workload_identity(view.node), side)
        loggers = http_metrics_loggers(_spec(view, direction, port), overrides, mixer_names)
    return filters, loggers + _access_logs(mesh, resolved, direction, view.node)


def tcp_telemetry(
    mesh: MeshConfig,
    view: ProxyView,
    direction: Direction,
    port: int,
    resolved: ResolvedTelemetry | None = None,
    mixer_names: frozenset[str] = frozenset(),
) -> list[accesslog_pb2.AccessLog]:
    """The access loggers of a ``tcp_proxy`` (which must flush its log on upstream connect)."""
    resolved = resolved or resolve_telemetry((), mesh, "", {})
    loggers: list[accesslog_pb2.AccessLog] = []
    overrides = metric_overrides(mesh, resolved, _mode(direction))
    if overrides is not None:
        loggers = tcp_metrics_loggers(_spec(view, direction, port), overrides, mixer_names)
    end = log_type_filter(accesslog_data_pb2.AccessLogType.TcpConnectionEnd)
    return loggers + _access_logs(mesh, resolved, direction, view.node, end)


def _anything(mesh: MeshConfig, resolved: ResolvedTelemetry) -> bool:
    """Does the pass add metrics or access logs to any listener of this proxy?"""
    for mode in ("CLIENT", "SERVER"):
        if metric_overrides(mesh, resolved, mode) is not None:
            return True
        logs = resolved.logs_for(mode)
        if logs or (logs is None and mesh.access_log_file):
            return True
    return False


def _direction(view: ProxyView, listener: listener_pb2.Listener) -> Direction:
    if view.node.proxy_type == "router":
        return "gateway"
    return "inbound" if listener.traffic_direction == base_pb2.INBOUND else "outbound"


def _with_http(
    network_filter: listener_components_pb2.Filter,
    filters: Sequence[hcm_pb2.HttpFilter],
    loggers: Sequence[accesslog_pb2.AccessLog],
    tracing: hcm_pb2.HttpConnectionManager.Tracing | None = None,
) -> None:
    manager = hcm_pb2.HttpConnectionManager()
    network_filter.typed_config.Unpack(manager)
    if tracing is not None:
        manager.tracing.CopyFrom(tracing)
    existing = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.extend([*filters, *existing])
    manager.access_log.extend(loggers)
    network_filter.typed_config.Pack(manager)


def _with_tcp(
    network_filter: listener_components_pb2.Filter, loggers: Sequence[accesslog_pb2.AccessLog]
) -> None:
    proxy = tcp_proxy_pb2.TcpProxy()
    network_filter.typed_config.Unpack(proxy)
    proxy.access_log.extend(loggers)
    if any(logger.name != "envoy.access_loggers.file" for logger in loggers):
        # ``istio_tcp_connections_opened_total`` counts when the upstream connects.
        proxy.access_log_options.flush_access_log_on_connected = True
    network_filter.typed_config.Pack(proxy)


def with_telemetry(
    snapshot: MeshSnapshot, view: ProxyView, listeners: Sequence[listener_pb2.Listener]
) -> list[listener_pb2.Listener]:
    """The listeners with Istio's metrics and access logs on each HCM and ``tcp_proxy``
    (modified in place: they are this proxy's own, built for this call)."""
    mesh = snapshot.mesh
    resolved = resolved_for(snapshot, view)
    # Tracing (``xds.telemetry_tracing``): one tracer per mode (Telemetry API client/server).
    specs = resolved.tracing
    tracing = {
        mode: hcm_tracing(mesh, view, None if specs is None else getattr(specs, mode.lower()))
        for mode in ("CLIENT", "SERVER")
    }
    traced = any(t is not None for t in tracing.values())
    if not _anything(mesh, resolved) and not traced and not snapshot.mixer_rules:
        return list(listeners)
    mixer_names = mixer_metric_names(snapshot, view) if snapshot.mixer_rules else frozenset()
    for listener in listeners:
        direction = _direction(view, listener)
        port = listener.address.socket_address.port_value
        http: tuple[list[hcm_pb2.HttpFilter], list[accesslog_pb2.AccessLog]] | None = None
        tcp: list[accesslog_pb2.AccessLog] | None = None
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name == _HCM:
                    http = http or http_telemetry(
                        mesh, view, direction, port, resolved, mixer_names
                    )
                    mixer = mixer_access_loggers(snapshot, view, direction, port, "http")
                    _with_http(
                        network_filter, http[0], [*http[1], *mixer], tracing[_mode(direction)]
                    )
                elif network_filter.name == _TCP_PROXY:
                    tcp = (
                        tcp
                        if tcp is not None
                        else tcp_telemetry(mesh, view, direction, port, resolved, mixer_names)
                    )
                    mixer = mixer_access_loggers(snapshot, view, direction, port, "tcp")
                    _with_tcp(network_filter, [*tcp, *mixer])
    return list(listeners)


__all__ = [
    "Direction",
    "http_telemetry",
    "inbound_service",
    "metrics_enabled",
    "resolved_for",
    "tcp_telemetry",
    "with_telemetry",
]
