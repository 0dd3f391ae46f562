"""The simulator against a real Envoy 1.40: same config, same requests, same answers.

One Envoy gets, over ADS, the listeners and routes generated for BookInfo's productpage sidecar
and ingress gateway (merged into one config; every name differs) — only the clusters are
replaced by static ones, each pointing at an in-process echo server that reports the cluster's
name as its pod. For each request of the table the simulator's answer (cluster, weighted set,
upstream path/authority, redirect, direct response, 404 NR, fault status) must be what Envoy did.
Pod addresses live on a random loopback /24.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from envoy.config.cluster.v3 import cluster_pb2

from mainsail import naming
from mainsail.ads import AdsServer
from mainsail.samples.echo import EchoServer, EchoSettings
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing import envoy_config as ec
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_address, random_loopback_network
from mainsail.testing.simulator import Request, Result, Simulator
from mainsail.testing.waiting import wait_for
from mainsail.xds.generate import generate
from mainsail.xds.protos import duration
from mainsail.xds.resources import ProxyConfig, XdsResource

from ..ads.conftest import ads_server, bootstrap
from .bookinfo_mesh import HTTP_PROXY_PORT, BookInfo, bookinfo

DETAILS_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details}
spec:
  hosts: [details]
  http:
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new, redirectCode: 302}
  - match: [{uri: {prefix: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - match: [{uri: {regex: "/details/[0-9]+"}}]
    route: [{destination: {host: details, subset: v1}}]
  - match: [{uri: {prefix: /api/}}]
    rewrite: {uri: /, authority: details.internal}
    route: [{destination: {host: details, subset: v2}}]
  - match: [{queryParams: {debug: {exact: "1"}}}]
    route: [{destination: {host: ratings, subset: v1}}]
  - match: [{uri: {prefix: /canary}, withoutHeaders: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: details, subset: v1}}]
  - match: [{uri: {prefix: /canary}}]
    route: [{destination: {host: details, subset: v2}}]
  - match: [{uri: {prefix: /caseless}, ignoreUriCase: true}]
    route: [{destination: {host: details, subset: v2}}]
  - match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: details, subset: v1}, weight: 50}
    - {destination: {host: details, subset: v2}, weight: 50}
"""


@dataclass(frozen=True, slots=True)
class Case:
    proxy: str  # "sidecar" or "gateway"
    host: str
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    port: int = 0  # 0: the proxy's HTTP listener
    tcp: bool = False


CASES = [
    Case("sidecar", "reviews:9080", "/reviews/0"),
    Case("sidecar", "reviews:9080", "/reviews/0", {"end-user": "jason"}),
    Case("sidecar", "reviews:9080", "/reviews/0", {"end-user": "Jason"}),
    Case("sidecar", "reviews.default.svc.cluster.local:9080"),
    Case("sidecar", "ratings:9080", "/ratings/0", {"end-user": "jason"}),
    Case("sidecar", "ratings:9080", "/ratings/0"),
    Case("sidecar", "productpage:9080", "/productpage"),
    Case("sidecar", "details:9080", "/old?x=1"),
    Case("sidecar", "details:9080", "/teapot"),
    Case("sidecar", "details:9080", "/details/42"),
    Case("sidecar", "details:9080", "/details/42/more"),
    Case("sidecar", "details:9080", "/api/items?q=1"),
    Case("sidecar", "details:9080", "/x?debug=1"),
    Case("sidecar", "details:9080", "/canary"),
    Case("sidecar", "details:9080", "/canary", {"x-canary": "yes"}),
    Case("sidecar", "details:9080", "/CaseLess/a"),
    Case("sidecar", "details:9080", "/split"),
    Case("sidecar", "www.example.org", "/search"),
    Case("sidecar", "reviews:9999"),
    Case("sidecar", "anything", "/inbound", port=9080),
    Case("sidecar", "", port=443, tcp=True),
    Case("gateway", "bookinfo.example", "/productpage"),
    Case("gateway", "bookinfo.example:8080", "/static/app.css"),
    Case("gateway", "bookinfo.example", "/Productpage"),
    Case("gateway", "bookinfo.example", "/nothing/here"),
]


@dataclass(frozen=True, slots=True)
class Observed:
    status: int
    cluster: str | None  # the echo server that answered
    path: str | None
    authority: str | None
    location: str | None
    body: bytes


def _static_cluster(name: str, host: str, port: int) -> XdsResource:
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration(timedelta(seconds=1)),
    )
    endpoint = cluster.load_assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.socket_address.address = host
    endpoint.address.socket_address.port_value = port
    cluster.load_assignment.cluster_name = name
    return XdsResource.pack(name, cluster)


def _for_envoy(configs: list[ProxyConfig], upstreams: Mapping[str, tuple[str, int]]) -> ProxyConfig:
    """The listeners and routes as generated; each cluster a static one to its echo server
    (BlackHoleCluster stays empty)."""
    clusters = [_static_cluster(name, *address) for name, address in upstreams.items()]
    clusters.append(
        XdsResource.pack(
            naming.BLACKHOLE_CLUSTER,
            cluster_pb2.Cluster(name=naming.BLACKHOLE_CLUSTER, type=cluster_pb2.Cluster.STATIC),
        )
    )
    listeners = [r for c in configs for r in c.of_type(naming.LISTENER_TYPE).values()]
    routes = [r for c in configs for r in c.of_type(naming.ROUTE_TYPE).values()]
    return ec.proxy_config(clusters=clusters, listeners=listeners, routes=routes)


def _cluster_names(configs: list[ProxyConfig]) -> set[str]:
    return {
        name
        for config in configs
        for name in config.of_type(naming.CLUSTER_TYPE)
        if name != naming.BLACKHOLE_CLUSTER
    }


async def _observe(http: aiohttp.ClientSession, address: tuple[str, int], case: Case) -> Observed:
    url = yarl.URL(f"http://{address[0]}:{address[1]}{case.path}", encoded=True)
    headers = {"Host": case.host, **case.headers}
    async with http.get(url, headers=headers, allow_redirects=False) as response:
        body = await response.read()
        echoed: dict[str, Any] = {}
        if response.content_type == "application/json":
            echoed = json.loads(body)
        return Observed(
            status=response.status,
            cluster=echoed.get("pod"),
            path=echoed.get("path"),
            authority=echoed.get("headers", {}).get("host"),
            location=response.headers.get("location"),
            body=body,
        )


async def _observe_tcp(address: tuple[str, int]) -> Observed:
    """An HTTP/1.0 request over the TCP proxy: the echo server behind it says who it is."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"GET /tcp HTTP/1.0\r\nHost: tcp\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    echoed = json.loads(body)
    return Observed(
        status=int(head.split()[1]),
        cluster=echoed["pod"],
        path=echoed["path"],
        authority=None,
        location=None,
        body=body,
    )


def _disagreement(expected: Result, seen: list[Observed]) -> str | None:
    """What differs between the simulator's answer and what Envoy did (None: they agree)."""
    first = seen[0]
    if expected.outcome in ("cluster", "tcp"):
        want = (200, expected.cluster)
        got: tuple[object, ...] = (first.status, first.cluster)
        if expected.status is not None:  # a fault abort answers before any upstream
            want, got = (expected.status, None), (first.status, first.cluster)
        elif expected.outcome == "cluster":
            want += (expected.upstream_path.split("?")[0] if expected.upstream_path else None,)
            want += (expected.upstream_authority,)
            got += (first.path, first.authority)
        return None if want == got else f"simulated {want}, Envoy {got}"
    if expected.outcome == "weighted_clusters":
        clusters = {o.cluster for o in seen}
        if clusters != set(expected.weighted_clusters) or any(o.status != 200 for o in seen):
            return f"simulated {dict(expected.weighted_clusters)}, Envoy reached {clusters}"
        return None
    if expected.outcome == "redirect":
        assert expected.redirect is not None
        want = (expected.redirect.code, expected.redirect.location)
        got = (first.status, first.location)
        return None if want == got else f"simulated {want}, Envoy {got}"
    if expected.outcome == "direct_response":
        assert expected.direct_response is not None
        want = (expected.direct_response.status, expected.direct_response.body)
        got = (first.status, first.body)
        return None if want == got else f"simulated {want}, Envoy {got}"
    if expected.outcome == "no_route":
        got = (first.status, first.cluster, first.body)
        return None if got == (404, None, b"") else f"simulated 404 NR, Envoy {got}"
    return f"unexpected outcome {expected.outcome}"


async def test_simulator_agrees_with_envoy(tmp_path: Path) -> None:
    network = random_loopback_network(24).rsplit(".", 1)[0]
    mesh: BookInfo = bookinfo(
        "bookinfo-gateway.yaml",
        "destination-rule-all.yaml",
        "virtual-service-reviews-jason-v2-v3.yaml",
        "virtual-service-ratings-test-abort.yaml",
        extra=DETAILS_VS,
        network=network,
    )
    sidecar, gateway = mesh.productpage(), mesh.gateway()
    generated = [generate(mesh.snapshot, sidecar), generate(mesh.snapshot, gateway)]
    simulators = {"sidecar": Simulator(generated[0]), "gateway": Simulator(generated[1])}
    ports = {"sidecar": HTTP_PROXY_PORT, "gateway": 8080}
    ips = {"sidecar": sidecar.ip, "gateway": gateway.ip}

    upstream_host = random_loopback_address()
    echoes = {
        name: EchoServer(EchoSettings(host=upstream_host, port=0, pod=name))
        for name in sorted(_cluster_names(generated))
    }
    await asyncio.gather(*(e.start() for e in echoes.values()))
    config = _for_envoy(generated, {n: (upstream_host, e.port) for n, e in echoes.items()})

    def generator(node: ProxyNode) -> ProxyConfig:
        return config

    failures: list[str] = []
    try:
        async with (
            ads_server(generator, debounce_after=0.01) as (ads, xds_port),
            EnvoyProcess(bootstrap(xds_port, delta=True), tmp_path / "envoy") as envoy,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        ):
            await _until_serving(ads, http, ips, ports)
            for case in CASES:
                proxy_ip = ips[case.proxy]
                address = (proxy_ip, case.port or ports[case.proxy])
                expected = simulators[case.proxy].simulate(
                    Request(
                        listener=address, authority=case.host, path=case.path, headers=case.headers
                    )
                )
                if case.tcp:
                    seen = [await _observe_tcp(address)]
                else:
                    tries = 40 if expected.outcome == "weighted_clusters" else 1
                    seen = [await _observe(http, address, case) for _ in range(tries)]
                problem = _disagreement(expected, seen)
                if problem:
                    failures.append(f"{case}: {problem}")
            assert envoy.running, envoy.log_tail()
    finally:
        await asyncio.gather(*(e.stop() for e in echoes.values()))
    assert not failures, "\n".join(failures)


async def _until_serving(
    ads: AdsServer,
    http: aiohttp.ClientSession,
    ips: Mapping[str, str],
    ports: Mapping[str, int],
) -> None:
    """Envoy connected, ACKed everything, and its workers accept on both HTTP listeners."""
    await wait_for(ads.proxy_status, timeout=15, message="Envoy connected to ADS")
    await ads.wait_synced(timeout=15)

    async def accepting() -> bool:
        for proxy, ip in ips.items():
            async with http.get(f"http://{ip}:{ports[proxy]}/", headers={"Host": "probe"}):
                pass
        return True

    await wait_for(accepting, timeout=15, message="listeners accepting")
