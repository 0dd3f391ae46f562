"""Istio's standard metrics and access logs on every HCM and ``tcp_proxy`` of a proxy.

One pass over the listeners a proxy gets (``with_telemetry``, called by ``xds.generate``): each
HTTP connection manager and ``tcp_proxy`` is given what Istio's ``istio.stats`` and
``istio.metadata_exchange`` filters and its access log would do, built from stock Envoy parts:

- reporter: ``destination`` on a sidecar's inbound listeners, ``source`` on its outbound ones and
  on every gateway listener (istiod's rule: gateway listeners are OUTBOUND);
- HTTP: the peer exchange filters first (``xds.telemetry_peer``) and ``set_filter_state`` for
  the request-time labels, then the stats access logger (``xds.telemetry_metrics``) and the
  file access log (``xds.telemetry_logs``);
- TCP: stats access loggers for opened (on upstream connect, so ``tcp_proxy`` flushes its access
  log then) and closed connections with byte totals, and the file log at connection end. TCP
  has no peer exchange (Istio's needs its own ALPN filter): the peer's workload labels are
  ``unknown``, principals still come from the certificates.

MeshConfig ``defaultProviders.metrics`` without ``prometheus`` turns the metrics off; the
access log follows ``accessLogFile``. Pure: reads only the snapshot's mesh and the proxy view.

Reads: MeshConfig (access log, default providers), the proxy node (workload, labels), the
Services of its inbound ports.
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
from mainsail.snapshot.view import ProxyView
from mainsail.xds.telemetry_logs import file_access_logs
from mainsail.xds.telemetry_metrics import (
    DestinationService,
    MetricsSpec,
    client_service_format,
    http_metrics_loggers,
    log_type_filter,
    request_state_filter,
    tcp_metrics_loggers,
)
from mainsail.xds.telemetry_peer import Side, peer_filters, workload_identity
from mainsail.xds.telemetry_tracing import hcm_tracing

Direction = Literal["inbound", "outbound", "gateway"]

PROMETHEUS_PROVIDER = "prometheus"
_HCM = "envoy.filters.network.http_connection_manager"
_TCP_PROXY = "envoy.filters.network.tcp_proxy"


def metrics_enabled(mesh: MeshConfig) -> bool:
    providers = mesh.default_providers.metrics
    return not providers or PROMETHEUS_PROVIDER in providers


def inbound_service(view: ProxyView, port: int) -> DestinationService | None:
    """The Service whose port targets this workload port (the first, as istiod's inbound
    cluster metadata lists it first)."""
    for endpoint in view.inbound:
        if endpoint.port != port:
            continue
        for service in view.visible_services:
            if service.hostname == endpoint.hostname:
                return DestinationService(
                    host=service.hostname, name=service.name, namespace=service.namespace
                )
        return None
    return None


def _spec(view: ProxyView, direction: Direction, port: int) -> MetricsSpec:
    own = workload_identity(view.node)
    if direction == "inbound":
        return MetricsSpec(reporter="destination", own=own, service=inbound_service(view, port))
    return MetricsSpec(reporter="source", own=own, host_fallback=direction == "outbound")


def http_telemetry(
    mesh: MeshConfig, view: ProxyView, direction: Direction, port: int
) -> tuple[list[hcm_pb2.HttpFilter], list[accesslog_pb2.AccessLog]]:
    """(filters to put first on the HCM, its access loggers)."""
    filters: list[hcm_pb2.HttpFilter] = []
    loggers: list[accesslog_pb2.AccessLog] = []
    if metrics_enabled(mesh):
        own = workload_identity(view.node)
        spec = _spec(view, direction, port)
        side: Side = "server" if direction == "inbound" else "client"
        computed = client_service_format(spec) if side == "client" else ""
        filters = [*peer_filters(own, side, computed), request_state_filter(spec.reporter)]
        loggers = http_metrics_loggers(spec)
    return filters, loggers + file_access_logs(mesh, view.node)


def tcp_telemetry(
    mesh: MeshConfig, view: ProxyView, direction: Direction, port: int
) -> list[accesslog_pb2.AccessLog]:
    """The access loggers of a ``tcp_proxy`` (which must flush its log on upstream connect)."""
    loggers: list[accesslog_pb2.AccessLog] = []
    if metrics_enabled(mesh):
        loggers = tcp_metrics_loggers(_spec(view, direction, port))
    end = log_type_filter(accesslog_data_pb2.AccessLogType.TcpConnectionEnd)
    return loggers + file_access_logs(mesh, view.node, end)


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
    # Tracing (``xds.telemetry_tracing``): the same tracer on every HCM of the proxy.
    tracing = hcm_tracing(mesh, view)
    if not metrics_enabled(mesh) and not mesh.access_log_file and tracing is None:
        return list(listeners)
    for listener in listeners:
        direction = _direction(view, listener)
        port = listener.address.socket_address.port_value
        http: tuple[list[hcm_pb2.HttpFilter], list[accesslog_pb2.AccessLog]] | None = None
        tcp: list[accesslog_pb2.AccessLog] | None = None
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                if network_filter.name == _HCM:
                    http = http or http_telemetry(mesh, view, direction, port)
                    _with_http(network_filter, *http, tracing)
                elif network_filter.name == _TCP_PROXY:
                    tcp = tcp if tcp is not None else tcp_telemetry(mesh, view, direction, port)
                    _with_tcp(network_filter, tcp)
    return list(listeners)


__all__ = [
    "Direction",
    "http_telemetry",
    "inbound_service",
    "metrics_enabled",
    "tcp_telemetry",
    "with_telemetry",
]
