"""The telemetry pieces on a real Envoy: a client sidecar HCM (reporter=source) in front of a
server sidecar HCM (reporter=destination) in front of the echo app, built by
``xds.telemetry.http_telemetry``; Istio's TEXT access log, the peer exchange and its
stripping, and the ``envoy_istio_*`` → ``istio_*`` rename of the bootstrap's Prometheus
listener."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from xds.type.matcher.v3 import matcher_pb2

from mainsail.agent.bootstrap import _http_listener
from mainsail.cli.stat_metrics import parse_prometheus_text, series
from mainsail.config.mesh import MeshConfig
from mainsail.samples.echo.server import EchoServer, EchoSettings
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.view import ProxyView
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for
from mainsail.xds.listeners import http_connection_manager
from mainsail.xds.telemetry import http_telemetry, tcp_telemetry
from mainsail.xds.telemetry_metrics import MAX_COUNTERS, MAX_HISTOGRAMS
from mainsail.xds.telemetry_peer import (
    HEADER_TO_METADATA_FILTER,
    decode_peer,
    passthrough_route_config,
)

_STATS = "type.googleapis.com/envoy.extensions.access_loggers.stats.v3.Config"
# Istio's default TEXT line, field by field.
TEXT_LINE = re.compile(
    r'^\[(?P<start>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) (?P<protocol>\S+)" (?P<code>\d+) '
    r"(?P<flags>\S+) (?P<details>\S+) (?P<termination>\S+) \"(?P<failure>[^\"]*)\" "
    r"(?P<received>\d+) (?P<sent>\d+) (?P<duration>\d+) (?P<service_time>\S+) "
    r'"(?P<xff>[^"]*)" "(?P<agent>[^"]*)" "(?P<request_id>[^"]*)" "(?P<authority>[^"]*)" '
    r'"(?P<upstream>[^"]*)" (?P<cluster>\S+) (?P<upstream_local>\S+) (?P<local>\S+) '
    r"(?P<remote>\S+) (?P<sni>\S+) (?P<route>\S+)$"
)


def _raw_fields(message: Message, number: int) -> list[bytes]:
    """The payloads of ``message``'s unknown length-delimited field ``number`` (the raw fields
    translation writes because our xds-protos lack them)."""
    fields = UnknownFieldSet(message)
    found = [fields[i] for i in range(len(fields))]
    return [bytes(f.data) for f in found if f.field_number == number]


# The workload labels the peer exchange fills, after ``source_``/``destination_``.
_PEER_LABELS = (
    "workload",
    "canonical_service",
    "canonical_revision",
    "app",
    "version",
    "cluster",
)


def _empty_labels(labels: Sequence[tuple[str, str]]) -> list[str]:
    """Labels Istio never leaves empty that are empty (only ``grpc_response_status`` may be)."""
    return [k for k, v in labels if not v and k != "grpc_response_status"]


def _node(name: str, ip: str, app: str, version: str) -> ProxyNode:
    return ProxyNode(
        node_id=f"sidecar~{ip}~{name}-0.default~default.svc.cluster.local",
        proxy_type="sidecar",
        ip=ip,
        pod_name=f"{name}-0",
        namespace="default",
        labels=(("app", app), ("version", version)),
        workload_name=name,
    )


def _update_tag(action: Any) -> dict[str, Any]:
    """A ``TransformStat`` action (raw bytes: not in our xds-protos) as Envoy's JSON."""
    [update] = _raw_fields(empty_pb2.Empty.FromString(action.value), 3)
    [value] = _raw_fields(empty_pb2.Empty.FromString(update), 2)
    return {
        "action": {
            "name": "u",
            "typed_config": {
                "@type": action.type_url,
                "update_tag": {"new_tag_value": value.decode()},
            },
        }
    }


def _rules(tag: stats_pb2.Config.Tag) -> dict[str, Any] | None:
    """``Tag.rules`` (raw field 3) as Envoy's JSON: JSON drops the fields our protos lack."""
    raw = _raw_fields(tag, 3)
    if not raw:
        return None
    matcher = matcher_pb2.Matcher.FromString(raw[0])
    found: dict[str, Any] = {"matcher_list": {"matchers": []}}
    for rule in matcher.matcher_list.matchers:
        single = rule.predicate.single_predicate
        found["matcher_list"]["matchers"].append(
            {
                "predicate": {
                    "single_predicate": {
                        "input": {
                            "name": "v",
                            "typed_config": {"@type": single.input.typed_config.type_url},
                        },
                        "value_match": json_format.MessageToDict(single.value_match),
                    }
                },
                "on_match": _update_tag(rule.on_match.action.typed_config),
            }
        )
    if matcher.HasField("on_no_match"):
        found["on_no_match"] = _update_tag(matcher.on_no_match.action.typed_config)
    return found


def _stats_json(logger: accesslog_pb2.AccessLog) -> dict[str, Any]:
    config = stats_pb2.Config()
    logger.typed_config.Unpack(config)
    found = json_format.MessageToDict(logger)
    typed = found["typedConfig"]
    typed["stats_scope"] = {
        "prefix": "istio",
        "max_counters": MAX_COUNTERS,
        "max_histograms": MAX_HISTOGRAMS,
    }
    for kind in ("counters", "histograms"):
        for stat, stat_json in zip(getattr(config, kind), typed.get(kind, []), strict=True):
            for tag, tag_json in zip(stat.stat.tags, stat_json["stat"]["tags"], strict=True):
                rules = _rules(tag)
                if rules is not None:
                    tag_json["rules"] = rules
    return found


def _manager_json(manager: listener_components_pb2.Filter) -> dict[str, Any]:
    """The HCM as Envoy's JSON, with the raw fields our protos lack (``stats_scope``, the tags'
    ``rules``) written back as translation emits them."""
    config = hcm_pb2.HttpConnectionManager()
    manager.typed_config.Unpack(config)
    found = json_format.MessageToDict(manager)
    logs = found["typedConfig"].get("accessLog", [])
    for index, logger in enumerate(config.access_log):
        if logger.typed_config.type_url == _STATS:
            logs[index] = _stats_json(logger)
    return found


def _listener(
    name: str, ip: str, port: int, manager: listener_components_pb2.Filter
) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [{"filters": [_manager_json(manager)]}],
    }


def _route(cluster: str) -> dict[str, Any]:
    return {
        "name": cluster,
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
            }
        ],
    }


def _cluster(name: str, ip: str, port: int, service: str | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": ip, "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if service:
        found = {"host": service, "name": "server", "namespace": "default"}
        cluster["metadata"] = {
            "filter_metadata": {"istio": {"services": [found]}, "mainsail.service": found}
        }
    return cluster


def _manager(
    mesh: MeshConfig,
    node: ProxyNode,
    direction: str,
    port: int,
    cluster: str,
    route: route_pb2.RouteConfiguration | None = None,
) -> listener_components_pb2.Filter:
    view = ProxyView(node=node, workload=None, visible_services=(), inbound=())
    filters, loggers = http_telemetry(mesh, view, direction, port)  # type: ignore[arg-type]
    route = route or json_format.ParseDict(_route(cluster), route_pb2.RouteConfiguration())
    manager = http_connection_manager(f"{direction}_{port}", route_config=route)
    config = hcm_pb2.HttpConnectionManager()
    manager.typed_config.Unpack(config)
    existing = list(config.http_filters)
    del config.http_filters[:]
    config.http_filters.extend([*filters, *existing])
    config.access_log.extend(loggers)
    manager.typed_config.Pack(config)
    return manager


async def test_source_and_destination_sidecars_on_real_envoy(tmp_path: Path) -> None:
    ip = random_loopback_address()
    client_log, server_log = tmp_path / "client.access.log", tmp_path / "server.access.log"
    client_node = _node("productpage-v1", ip, "productpage", "v1")
    server_node = _node("reviews-v2", ip, "reviews", "v2")
    async with EchoServer(EchoSettings(host=ip, port=0)) as app:
        client_port, server_port = free_port(ip), free_port(ip)
        prom_port, admin_port = free_port(ip), free_port(ip)
        client = _manager(
            MeshConfig(access_log_file=str(client_log)),
            client_node,
            "outbound",
            client_port,
            "outbound|9080||reviews.default.svc.cluster.local",
        )
        server = _manager(
            MeshConfig(access_log_file=str(server_log)),
            server_node,
            "inbound",
            server_port,
            "inbound|9080||",
        )
        bootstrap = {
            "node": {"id": "test", "cluster": "test"},
            "admin": {"address": {"socket_address": {"address": ip, "port_value": admin_port}}},
            "static_resources": {
                "listeners": [
                    _listener("client", ip, client_port, client),
                    _listener("server", ip, server_port, server),
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
                    _cluster(
                        "outbound|9080||reviews.default.svc.cluster.local",
                        ip,
                        server_port,
                        "reviews.default.svc.cluster.local",
                    ),
                    _cluster("inbound|9080||", ip, app.port),
                    _cluster("prometheus_stats", ip, admin_port),
                ],
            },
        }
        async with (
            EnvoyProcess(bootstrap, tmp_path / "envoy") as envoy,
            aiohttp.ClientSession() as http,
        ):
            await wait_for(envoy.ready, timeout=15, message="Envoy LIVE")
            # The app forges a peer identity: the client sidecar replaces it.
            async with http.get(
                f"http://{ip}:{client_port}/hello",
                headers={"x-mainsail-peer": "forged;default;x;x;x;x;x", "User-Agent": "tele/1"},
            ) as response:
                assert response.status == 200
                assert not [h for h in response.headers if h.lower().startswith("x-mainsail-peer")]
                seen = (await response.json())["headers"]
            assert not [h for h in seen if h.startswith("x-mainsail-peer")]
            # gRPC by content-type; and a caller without a sidecar straight to the server.
            grpc = {"content-type": "application/grpc+proto"}
            async with http.post(f"http://{ip}:{client_port}/g", headers=grpc, data=b"") as r:
                await r.read()
            # The caller goes away before the response (DC): the client sidecar never sees the
            # server's header, its peer is ``unknown`` (it was empty).
            gone = aiohttp.ClientTimeout(total=0.5)
            with contextlib.suppress(TimeoutError):
                async with http.get(f"http://{ip}:{client_port}/slow?delay=3", timeout=gone) as r:
                    await r.read()
            # An app without a sidecar forging a header that does not decode: its peer labels
            # are ``unknown`` as for no header (the same series), never empty.
            forged = {"x-mainsail-peer": "forged;default;x;x;x;x;x"}
            async with http.get(f"http://{ip}:{server_port}/forged", headers=forged) as r:
                assert r.status == 200
                assert not [h for h in (await r.json())["headers"] if "mainsail" in h.lower()]
            async with http.get(f"http://{ip}:{server_port}/bare") as response:
                assert response.status == 200
                # The server sidecar announces itself; a client without a sidecar sees it.
                peer = decode_peer(response.headers["x-mainsail-peer"])
                assert (peer["workload"], peer["app"], peer["version"]) == (
                    "reviews-v2",
                    "reviews",
                    "v2",
                )

            async def scraped() -> str:
                async with http.get(f"http://{ip}:{prom_port}/stats/prometheus") as r:
                    text = await r.text()
                both = ('reporter="source"' in text) and ('reporter="destination"' in text)
                return text if both and 'response_flags="DC"' in text else ""

            text = await wait_for(scraped, timeout=15, message="istio_requests_total, both sides")
            assert "envoy_istio_" not in text
            samples = parse_prometheus_text(text)
            source = series(samples, "istio_requests_total", reporter="source")
            destination = series(samples, "istio_requests_total", reporter="destination")
            assert source and destination
            assert dict(source[0].labels)["destination_workload"] == "reviews-v2"
            assert (
                dict(source[0].labels)["destination_service"] == "reviews.default.svc.cluster.local"
            )
            assert dict(destination[0].labels)["source_workload"] == "productpage-v1"
            assert dict(destination[0].labels)["source_app"] == "productpage"
            # No mTLS between these two: no principals, policy none.
            assert dict(destination[0].labels)["source_principal"] == "unknown"
            assert dict(destination[0].labels)["connection_security_policy"] == "none"
            client_side = [dict(s.labels) for s in source]
            assert {
                (x["request_protocol"], x["destination_service_name"]) for x in client_side
            } == {
                ("http", "server"),
                ("grpc", "server"),
            }
            assert {x["destination_service_namespace"] for x in client_side} == {"default"}
            assert {x["connection_security_policy"] for x in client_side} == {"unknown"}
            served = {dict(s.labels)["source_workload"] for s in destination}
            assert served == {"productpage-v1", "unknown"}
            [bare] = [
                dict(s.labels)
                for s in destination
                if dict(s.labels)["source_workload"] == "unknown"
            ]
            assert (bare["source_app"], bare["source_cluster"]) == ("unknown", "unknown")
            assert {bare[f"source_{f}"] for f in _PEER_LABELS} == {"unknown"}
            # The forged and the bare request: one series, both counted.
            [count] = [
                s.value
                for s in destination
                if dict(s.labels)["source_workload"] == "unknown"
                and dict(s.labels)["request_protocol"] == "http"
            ]
            assert count == 2
            assert not [s for s in [*source, *destination] if _empty_labels(s.labels)]
            [gone_away] = [dict(s.labels) for s in source if s.label("response_flags") == "DC"]
            assert {gone_away[f"destination_{f}"] for f in _PEER_LABELS} == {"unknown"}
            assert bare["request_protocol"] == "http"
            assert bare["destination_service"] == "unknown"  # no Service in this view

            def text_line() -> re.Match[str] | None:
                if not server_log.exists():
                    return None
                lines = server_log.read_text().splitlines()
                return TEXT_LINE.match(lines[-1]) if lines else None

            line = await wait_for(text_line, timeout=15, message="a TEXT access log line")
            assert line is not None
            assert (line["method"], line["path"], line["code"]) == ("GET", "/hello", "200")
            assert line["agent"] == "tele/1"
            assert line["cluster"] == "inbound|9080||"
            assert line["flags"] == "-"


async def test_passthrough_is_named_by_its_host_header(tmp_path: Path) -> None:
    """A sidecar's ``allow_any`` route (as ``xds.routes`` builds it) to PassthroughCluster (as
    ``xds.clusters`` names it): Istio's destination_service is the request's authority, the
    service name the cluster's, the namespace ``unknown``."""
    ip = random_loopback_address()
    node = _node("productpage-v1", ip, "productpage", "v1")
    route = route_pb2.RouteConfiguration(name="http_proxy")
    vhost = route.virtual_hosts.add(name="allow_any", domains=["*"])
    passthrough = vhost.routes.add(name="allow_any")
    passthrough.match.prefix = "/"
    passthrough.route.cluster = "PassthroughCluster"
    passthrough.typed_per_filter_config[HEADER_TO_METADATA_FILTER].CopyFrom(
        passthrough_route_config()
    )
    async with EchoServer(EchoSettings(host=ip, port=0)) as app:
        port, prom_port, admin_port = free_port(ip), free_port(ip), free_port(ip)
        client = _manager(MeshConfig(), node, "outbound", port, "PassthroughCluster", route)
        cluster = _cluster("PassthroughCluster", ip, app.port)
        cluster["metadata"] = {
            "filter_metadata": {"mainsail.service": {"name": "PassthroughCluster"}}
        }
        bootstrap = {
            "node": {"id": "test", "cluster": "test"},
            "admin": {"address": {"socket_address": {"address": ip, "port_value": admin_port}}},
            "static_resources": {
                "listeners": [
                    _listener("client", ip, port, client),
                    _http_listener(
                        ip,
                        prom_port,
                        stat_prefix="stats",
                        path="/stats/prometheus",
                        cluster="prometheus_stats",
                        rename_istio_metrics=True,
                    ),
                ],
                "clusters": [cluster, _cluster("prometheus_stats", ip, admin_port)],
            },
        }
        async with (
            EnvoyProcess(bootstrap, tmp_path / "envoy") as envoy,
            aiohttp.ClientSession() as http,
        ):
            await wait_for(envoy.ready, timeout=15, message="Envoy LIVE")
            headers = {"Host": "api.example.org:8443"}
            async with http.get(f"http://{ip}:{port}/x", headers=headers) as response:
                assert response.status == 200

            async def scraped() -> str:
                async with http.get(f"http://{ip}:{prom_port}/stats/prometheus") as r:
                    text = await r.text()
                return text if "istio_requests_total{" in text else ""

            text = await wait_for(scraped, timeout=15, message="istio_requests_total")
            [sample] = series(parse_prometheus_text(text), "istio_requests_total")
            labels = dict(sample.labels)
            assert labels["destination_service"] == "api.example.org:8443"
            assert labels["destination_service_name"] == "PassthroughCluster"
            assert labels["destination_service_namespace"] == "unknown"
            # The echo app has no sidecar: the peer is unknown.
            assert labels["destination_workload"] == "unknown"


def _tcp_proxy(
    node: ProxyNode, direction: str, port: int, cluster: str
) -> listener_components_pb2.Filter:
    view = ProxyView(node=node, workload=None, visible_services=(), inbound=())
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=cluster, cluster=cluster)
    proxy.access_log.extend(tcp_telemetry(MeshConfig(), view, direction, port))  # type: ignore[arg-type]
    proxy.access_log_options.flush_access_log_on_connected = True
    found = listener_components_pb2.Filter(name="envoy.filters.network.tcp_proxy")
    found.typed_config.Pack(proxy)
    return found


def _tcp_listener(
    name: str, ip: str, port: int, proxy: listener_components_pb2.Filter
) -> dict[str, Any]:
    config = tcp_proxy_pb2.TcpProxy()
    proxy.typed_config.Unpack(config)
    found = json_format.MessageToDict(proxy)
    logs = found["typedConfig"]["accessLog"]
    for index, logger in enumerate(config.access_log):
        if logger.typed_config.type_url == _STATS:
            logs[index] = _stats_json(logger)
    return {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [{"filters": [found]}],
    }


async def test_tcp_peer_labels_are_unknown_not_empty(tmp_path: Path) -> None:
    """``tcp_proxy`` has no peer exchange: both reporters say ``unknown`` for the peer's
    workload labels (they were empty strings before), their own workload by name."""
    ip = random_loopback_address()
    client_node = _node("sleep", ip, "sleep", "v1")
    server_node = _node("tcp-echo", ip, "tcp-echo", "v1")
    async with EchoServer(EchoSettings(host=ip, port=0)) as app:
        client_port, server_port = free_port(ip), free_port(ip)
        prom_port, admin_port = free_port(ip), free_port(ip)
        outbound = "outbound|9000||tcp-echo.default.svc.cluster.local"
        bootstrap = {
            "node": {"id": "test", "cluster": "test"},
            "admin": {"address": {"socket_address": {"address": ip, "port_value": admin_port}}},
            "static_resources": {
                "listeners": [
                    _tcp_listener(
                        "client",
                        ip,
                        client_port,
                        _tcp_proxy(client_node, "outbound", 9000, outbound),
                    ),
                    _tcp_listener(
                        "server",
                        ip,
                        server_port,
                        _tcp_proxy(server_node, "inbound", server_port, "inbound|9000||"),
                    ),
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
                    _cluster(outbound, ip, server_port, "tcp-echo.default.svc.cluster.local"),
                    _cluster("inbound|9000||", ip, app.port),
                    _cluster("prometheus_stats", ip, admin_port),
                ],
            },
        }
        async with EnvoyProcess(bootstrap, tmp_path / "envoy") as envoy:
            await wait_for(envoy.ready, timeout=15, message="Envoy LIVE")
            # One connection, closed after the answer: both sides count it at its end.
            connector = aiohttp.TCPConnector(force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector) as http,
                http.get(f"http://{ip}:{client_port}/tcp") as response,
            ):
                assert response.status == 200
            async with aiohttp.ClientSession() as http:

                async def scraped() -> str:
                    async with http.get(f"http://{ip}:{prom_port}/stats/prometheus") as r:
                        text = await r.text()
                    closed = text.count("istio_tcp_connections_closed_total{")
                    return text if closed >= 2 else ""

                text = await wait_for(scraped, timeout=15, message="closed on both sides")
    samples = parse_prometheus_text(text)
    for name in (
        "istio_tcp_connections_opened_total",
        "istio_tcp_connections_closed_total",
        "istio_tcp_sent_bytes_total",
        "istio_tcp_received_bytes_total",
    ):
        [client] = [dict(s.labels) for s in series(samples, name, reporter="source")]
        [server] = [dict(s.labels) for s in series(samples, name, reporter="destination")]
        assert not _empty_labels(tuple(client.items())) and not _empty_labels(
            tuple(server.items())
        ), (client, server)
        assert client["source_workload"] == "sleep"
        assert server["destination_workload"] == "tcp-echo"
        for label in _PEER_LABELS:
            assert client[f"destination_{label}"] == "unknown", (name, label)
            assert server[f"source_{label}"] == "unknown", (name, label)
        assert client["destination_workload_namespace"] == "unknown"
        assert server["source_workload_namespace"] == "unknown"
        assert client["destination_service"] == "tcp-echo.default.svc.cluster.local"
        assert server["connection_security_policy"] == "none"
