"""The Telemetry API on a real Envoy 1.40: a client sidecar HCM in front of a server sidecar HCM
in front of the echo app (the scaffolding of ``test_telemetry_envoy``), built from a resolved
Telemetry: REQUEST_COUNT disabled on the client, a tag removed and one upserted with a CEL value
on the server, and an ``envoyFileAccessLog`` provider with the filter ``response.code >= 400``
on the server only."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import yaml
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import json_format

from mainsail.agent.bootstrap import _http_listener
from mainsail.cli.stat_metrics import parse_prometheus_text, series
from mainsail.config.istio.telemetry import Telemetry
from mainsail.config.mesh import MeshConfig
from mainsail.samples.echo.server import EchoServer, EchoSettings
from mainsail.snapshot.proxy import ProxyNode
from mainsail.snapshot.telemetry import resolve_telemetry
from mainsail.snapshot.view import ProxyView
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for
from mainsail.xds.listeners import http_connection_manager
from mainsail.xds.telemetry import http_telemetry
from tests.xds.test_telemetry_envoy import _cluster, _listener, _node, _route

TELEMETRY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: default}
spec:
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      disabled: true
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        response_flags: {operation: REMOVE}
        request_host: {value: "request.host"}
  accessLogging:
  - match: {mode: SERVER}
    providers: [{name: errors}]
    filter: {expression: "response.code >= 400"}
"""


def _manager(
    mesh: MeshConfig, node: ProxyNode, direction: str, port: int, cluster: str
) -> listener_components_pb2.Filter:
    telemetry = Telemetry.model_validate(yaml.safe_load(TELEMETRY))
    resolved = resolve_telemetry([telemetry], mesh, node.namespace, node.label_map)
    view = ProxyView(node=node, workload=None, visible_services=(), inbound=())
    filters, loggers = http_telemetry(mesh, view, direction, port, resolved)  # type: ignore[arg-type]
    route = json_format.ParseDict(_route(cluster), route_pb2.RouteConfiguration())
    manager = http_connection_manager(f"{direction}_{port}", route_config=route)
    config = hcm_pb2.HttpConnectionManager()
    manager.typed_config.Unpack(config)
    existing = list(config.http_filters)
    del config.http_filters[:]
    config.http_filters.extend([*filters, *existing])
    config.access_log.extend(loggers)
    manager.typed_config.Pack(config)
    return manager


async def test_telemetry_overrides_and_filtered_access_log_on_real_envoy(tmp_path: Path) -> None:
    ip = random_loopback_address()
    errors_log = tmp_path / "errors.log"
    mesh = MeshConfig.model_validate(
        {
            "extensionProviders": [
                {
                    "name": "errors",
                    "envoyFileAccessLog": {
                        "path": str(errors_log),
                        "logFormat": {
                            "labels": {"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"}
                        },
                    },
                }
            ]
        }
    )
    client_node = _node("productpage-v1", ip, "productpage", "v1")
    server_node = _node("reviews-v2", ip, "reviews", "v2")
    async with EchoServer(EchoSettings(host=ip, port=0)) as app:
        client_port, server_port = free_port(ip), free_port(ip)
        prom_port, admin_port = free_port(ip), free_port(ip)
        outbound = "outbound|9080||reviews.default.svc.cluster.local"
        client = _manager(mesh, client_node, "outbound", client_port, outbound)
        server = _manager(mesh, server_node, "inbound", server_port, "inbound|9080||")
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
                    _cluster(outbound, ip, server_port, "reviews.default.svc.cluster.local"),
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
            base = f"http://{ip}:{client_port}"
            for path, code in (("/ok", 200), ("/fail?status=503", 503), ("/ok2", 200)):
                async with http.get(base + path, headers={"Host": "reviews:9080"}) as response:
                    assert response.status == code

            async def scraped() -> str:
                async with http.get(f"http://{ip}:{prom_port}/stats/prometheus") as r:
                    text = await r.text()
                return text if 'reporter="destination"' in text else ""

            text = await wait_for(scraped, timeout=15, message="server istio_requests_total")
            samples = parse_prometheus_text(text)
            # Disabled on the client (reporter=source) only; its histograms stay.
            assert series(samples, "istio_requests_total", reporter="source") == []
            assert series(samples, "istio_request_duration_milliseconds_count", reporter="source")
            destination = series(samples, "istio_requests_total", reporter="destination")
            assert destination
            labels = dict(destination[0].labels)
            assert "response_flags" not in labels
            assert labels["request_host"] == "reviews:9080"
            assert {dict(s.labels)["response_code"] for s in destination} == {"200", "503"}
            # Other stats keep Istio's labels.
            duration = series(
                samples, "istio_request_duration_milliseconds_count", reporter="destination"
            )
            assert "response_flags" in dict(duration[0].labels)

            def logged() -> list[dict[str, str]]:
                if not errors_log.exists():
                    return []
                return [json.loads(line) for line in errors_log.read_text().splitlines()]

            lines = await wait_for(logged, timeout=15, message="the error access log line")
            # Only the 503, and only once (server side; the client mode logs nothing).
            assert lines == [{"code": 503, "path": "/fail?status=503"}]
