"""The book's Mixer examples (samples/book/telemetry) on a real Envoy: applied as written (only the
fluentd address moves to the test's receiver), compiled by ``xds.mixer`` onto a client sidecar HCM
(reporter=source), a server sidecar HCM (reporter=destination) and a ``tcp_proxy``; the Prometheus
handler's metrics appear on the ``:15090``-style listener as ``istio_<name>``, the promhttp rule
skips kube-probe requests, promtcp counts TCP bytes, and the fluentd handler's records reach a
forward-protocol receiver (``mainsail.testing.fluentd``: no fluentd package on these machines).
Own listeners and Envoy (not the package mesh): the Mixer rules are their own config."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import json_format

from mainsail import naming
from mainsail.agent.bootstrap import _http_listener
from mainsail.cli.stat_metrics import parse_prometheus_text
from mainsail.config.parse import parse_documents
from mainsail.config.validation.dispatch import validate_all
from mainsail.samples.echo.server import EchoServer, EchoSettings
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import ProxyView
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.fluentd import FluentdReceiver
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for
from mainsail.xds.listeners import http_connection_manager
from mainsail.xds.mixer import Protocol, mixer_access_loggers, mixer_endpoints
from mainsail.xds.telemetry_logs import ACCESS_LOG_METADATA
from mainsail.xds.telemetry_metrics import MAX_COUNTERS, MAX_HISTOGRAMS

BOOK = Path(__file__).parents[2] / "src" / "mainsail" / "samples" / "book" / "telemetry"
_STATS = "type.googleapis.com/envoy.extensions.access_loggers.stats.v3.Config"
REVIEWS = "reviews.default.svc.cluster.local"
OUTBOUND = f"outbound|9080||{REVIEWS}"


# Istio 1.0's default access log (instance ``accesslog``, handler and rule ``stdio``), trimmed:
# not in the book's chapter, it shows the stdio handler next to the book's fluentd one.
STDIO = """apiVersion: config.istio.io/v1alpha2
kind: logentry
metadata: {name: accesslog, namespace: istio-system}
spec:
  severity: '"Info"'
  timestamp: request.time
  variables:
    sourceWorkload: source.workload.name | ""
    destinationWorkload: destination.workload.name | ""
    method: request.method | ""
    url: request.path | ""
    responseCode: response.code | 0
    userAgent: request.useragent | ""
    xForwardedFor: request.headers["x-forwarded-for"] | "-"
---
apiVersion: config.istio.io/v1alpha2
kind: stdio
metadata: {name: handler, namespace: istio-system}
spec: {outputAsJson: true}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: stdio, namespace: istio-system}
spec:
  match: context.protocol == "http" || context.protocol == "grpc"
  actions: [{handler: handler.stdio, instances: [accesslog.logentry]}]
"""


def _snapshot(fluentd: str) -> MeshSnapshot:
    books = [p.read_text() for p in sorted(BOOK.glob("*.yaml"))]
    text = "\n---\n".join([*books, STDIO])
    parsed = parse_documents(text.replace("localhost:24224", fluentd), "book")
    assert not parsed.errors
    assert not [e for e in validate_all(parsed) if e.severity == "error"]
    return build_snapshot(parsed.resources)


def _node(name: str, ip: str, app: str, version: str, log: Path) -> ProxyNode:
    return ProxyNode(
        node_id=f"sidecar~{ip}~{name}-0.default~default.svc.cluster.local",
        proxy_type="sidecar",
        ip=ip,
        pod_name=f"{name}-0",
        namespace="default",
        labels=(("app", app), ("version", version)),
        workload_name=name,
        extra=((ACCESS_LOG_METADATA, str(log)),),
    )


def _with_scope(value: Any) -> Any:
    """JSON drops the raw ``stats_scope`` field our protos lack; Envoy's parser knows it."""
    if isinstance(value, dict):
        if value.get("@type") == _STATS:
            value["stats_scope"] = {
                "prefix": "istio",
                "max_counters": MAX_COUNTERS,
                "max_histograms": MAX_HISTOGRAMS,
            }
        return {k: _with_scope(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_scope(v) for v in value]
    return value


def _loggers(
    snapshot: MeshSnapshot, node: ProxyNode, direction: str, port: int, protocol: Protocol
) -> list[accesslog_pb2.AccessLog]:
    view = ProxyView(node=node, workload=None, visible_services=(), inbound=())
    return mixer_access_loggers(snapshot, view, direction, port, protocol)  # type: ignore[arg-type]


def _http(name: str, ip: str, port: int, cluster: str, loggers: list[Any]) -> dict[str, Any]:
    route = route_pb2.RouteConfiguration(name=cluster)
    host = route.virtual_hosts.add(name="all", domains=["*"])
    entry = host.routes.add()
    entry.match.prefix = "/"
    entry.route.cluster = cluster
    manager = http_connection_manager(name, route_config=route)
    config = hcm_pb2.HttpConnectionManager()
    manager.typed_config.Unpack(config)
    config.access_log.extend(loggers)
    manager.typed_config.Pack(config)
    return _listener(name, ip, port, json_format.MessageToDict(manager))


def _tcp(name: str, ip: str, port: int, cluster: str, loggers: list[Any]) -> dict[str, Any]:
    proxy = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": name,
            "cluster": cluster,
            "access_log": [json_format.MessageToDict(logger) for logger in loggers],
        },
    }
    return _listener(name, ip, port, proxy)


def _listener(name: str, ip: str, port: int, network_filter: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [{"filters": [_with_scope(network_filter)]}],
    }


def _cluster(name: str, ip: str, port: int, service: str = "") -> dict[str, Any]:
    endpoint = {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}}}}
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]},
    }
    if service:
        istio = {"services": [{"host": service, "name": "reviews", "namespace": "default"}]}
        cluster["metadata"] = {"filter_metadata": {"istio": istio}}
    return cluster


def _series(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for sample in parse_prometheus_text(text):
        if sample.name == name and all(dict(sample.labels).get(k) == v for k, v in labels.items()):
            total += sample.value
    return total


async def test_book_prometheus_and_fluentd_examples_on_real_envoy(tmp_path: Path) -> None:
    ip = random_loopback_address()
    client_log, server_log = tmp_path / "client.log", tmp_path / "server.log"
    client_node = _node("productpage-v1", ip, "productpage", "v1", client_log)
    server_node = _node("reviews-v2", ip, "reviews", "v2", server_log)
    async with (
        EchoServer(EchoSettings(host=ip, port=0)) as app,
        FluentdReceiver(host=ip) as fluentd,
    ):
        snapshot = _snapshot(f"{ip}:{fluentd.port}")
        client_port, server_port, tcp_port = free_port(ip), free_port(ip), free_port(ip)
        prom_port, admin_port = free_port(ip), free_port(ip)
        view = ProxyView(node=client_node, workload=None, visible_services=(), inbound=())
        # The agent's bootstrap has the fluentd cluster as EDS; here, static with that endpoint.
        (assignment,) = mixer_endpoints(snapshot, view)
        fluentd_cluster = {
            "name": naming.MIXER_FLUENTD_CLUSTER,
            "type": "STATIC",
            "load_assignment": json_format.MessageToDict(
                assignment, preserving_proto_field_name=True
            ),
        }
        listeners = [
            _http(
                "client",
                ip,
                client_port,
                OUTBOUND,
                _loggers(snapshot, client_node, "outbound", client_port, "http"),
            ),
            _http(
                "server",
                ip,
                server_port,
                "inbound|9080||",
                _loggers(snapshot, server_node, "inbound", server_port, "http"),
            ),
            _tcp(
                "tcp",
                ip,
                tcp_port,
                "inbound|9080||",
                _loggers(snapshot, client_node, "outbound", tcp_port, "tcp"),
            ),
        ]
        bootstrap = {
            "node": {"id": "test", "cluster": "test"},
            "admin": {"address": {"socket_address": {"address": ip, "port_value": admin_port}}},
            "static_resources": {
                "listeners": [
                    *listeners,
                    _http_listener(
                        ip,
                        prom_port,
                        stat_prefix="stats",
                        path="/stats/prometheus",
                        cluster="prometheus_stats",
                        rename_istio_metrics=True,
                    ),
                ],
                "clusters": [
                    _cluster(OUTBOUND, ip, server_port, REVIEWS),
                    _cluster("inbound|9080||", ip, app.port),
                    _cluster("prometheus_stats", ip, admin_port),
                    fluentd_cluster,
                ],
            },
        }
        async with (
            EnvoyProcess(bootstrap, tmp_path / "envoy") as envoy,
            aiohttp.ClientSession() as http,
        ):
            await wait_for(envoy.ready, timeout=15, message="Envoy LIVE")
            for agent in ("book/1", "kube-probe/1.18"):
                async with http.get(
                    f"http://{ip}:{client_port}/reviews/0", headers={"User-Agent": agent}
                ) as response:
                    assert response.status == 200
            # promtcp: HTTP carried by the tcp_proxy, counted when the connection ends.
            reader, writer = await asyncio.open_connection(ip, tcp_port)
            writer.write(b"GET /tcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await writer.drain()
            assert (await reader.read()).startswith(b"HTTP/1.1 200")
            writer.close()

            async def scraped() -> str:
                async with http.get(f"http://{ip}:{prom_port}/stats/prometheus") as r:
                    text = await r.text()
                # Histograms reach the page at Envoy's stats flush (every 5 s).
                ready = "istio_tcp_sent_bytes_total{" in text and (
                    _series(text, "istio_response_bytes_count", reporter="source") >= 1
                )
                return text if ready else ""

            text = await wait_for(scraped, timeout=20, message="the book's istio_* metrics")
            source = {
                "reporter": "source",
                "source_app": "productpage",
                "source_workload": "productpage-v1",
                "source_namespace": "default",
                "source_version": "v1",
                "destination_service": REVIEWS,
                "destination_service_name": "reviews",
                "request_protocol": "http",
                "response_code": "200",
                "connection_mtls": "false",
            }
            # Two requests, one from kube-probe: promhttp's match leaves it out.
            assert _series(text, "istio_requests_total", **source) == 1
            destination = {
                "reporter": "destination",
                "destination_app": "reviews",
                "destination_workload": "reviews-v2",
                "destination_version": "v2",
            }
            assert _series(text, "istio_requests_total", **destination) == 1
            assert _series(text, "istio_request_duration_seconds_count", **source) == 1
            assert _series(text, "istio_response_bytes_count", **source) == 1
            assert _series(text, "istio_tcp_sent_bytes_total", reporter="source") > 0
            assert _series(text, "istio_tcp_received_bytes_total", reporter="source") > 0

            async def logged() -> bool:
                # istiologtofluentd matches everything: both HTTP hops of both requests, and
                # the TCP connection.
                return len(fluentd.records) >= 5

            await wait_for(logged, timeout=20, message="fluentd records")
    assert not fluentd.errors
    tags = {r.tag for r in fluentd.records}
    assert tags == {"istiolog.logentry.istio-system"}
    client = [r.record for r in fluentd.records if r.record.get("source") == "productpage"]
    assert client, fluentd.records
    # Two HTTP requests and the TCP connection (no response code: Mixer's ``| 0``, Envoy's 0).
    assert sorted(str(r["responseCode"]) for r in client) == ["0", "200", "200"]
    first = client[0]
    assert first["severity"] == "warning"
    assert set(first) == {
        "severity",
        "source",
        "user",
        "destination",
        "responseCode",
        "responseSize",
        "latency",
    }
    server = [r.record for r in fluentd.records if r.record.get("destination") == "reviews"]
    assert server
    # stdio: one JSON line per request on each side, Mixer's keys and the instance's variables.
    lines = [json.loads(line) for line in client_log.read_text().splitlines()]
    assert len(lines) == 2
    assert {line["userAgent"] for line in lines} == {"book/1", "kube-probe/1.18"}
    assert lines[0]["instance"] == "accesslog.logentry.istio-system"
    assert lines[0]["level"] == "Info"
    assert lines[0]["sourceWorkload"] == "productpage-v1"
    assert lines[0]["url"] == "/reviews/0"
    assert lines[0]["responseCode"] == 200
    (server_line, _) = [json.loads(line) for line in server_log.read_text().splitlines()]
    assert server_line["destinationWorkload"] == "reviews-v2"
