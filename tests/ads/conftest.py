"""Fixtures for real-Envoy ADS tests: an AdsServer on a grpc.aio server, upstreams, an Envoy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from mainsail.ads import AdsServer, Generator
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.upstream import HttpUpstream

NODE_ID = "sidecar~127.0.0.1~test-pod.default~default.svc.cluster.local"


def bootstrap(xds_port: int, *, delta: bool) -> dict[str, Any]:
    ads = {"ads": {}, "resource_api_version": "V3"}
    return {
        "node": {
            "id": NODE_ID,
            "cluster": "test-pod.default",
            "metadata": {
                "NAMESPACE": "default",
                "INSTANCE_IPS": "127.0.0.1",
                "LABELS": {"app": "test"},
                "SERVICE_ACCOUNT": "default",
                "INTERCEPTION_MODE": "NONE",
                "MAINSAIL_APP_PORTS": {"8080": 18080},
            },
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}],
            },
            "cds_config": ads,
            "lds_config": ads,
        },
        "static_resources": {
            "clusters": [
                {
                    "name": "xds-grpc",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "xds-grpc",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": xds_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                }
            ]
        },
    }


@asynccontextmanager
async def ads_server(generator: Generator, **options: Any) -> AsyncIterator[tuple[AdsServer, int]]:
    ads = AdsServer(generator, **options)
    server = grpc.aio.server()
    ads.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield ads, port
    finally:
        await ads.close()
        await server.stop(grace=None)


@asynccontextmanager
async def envoy_for(tmp_path: Path, xds_port: int, *, delta: bool) -> AsyncIterator[EnvoyProcess]:
    async with EnvoyProcess(bootstrap(xds_port, delta=delta), tmp_path / "envoy") as envoy:
        yield envoy


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[[str], HttpUpstream]]:
    started: dict[str, HttpUpstream] = {}

    def get(name: str) -> HttpUpstream:
        return started[name]

    for name in ("blue", "green", "yellow"):
        started[name] = await HttpUpstream(name).start()
    try:
        yield get
    finally:
        for upstream in started.values():
            await upstream.stop()
