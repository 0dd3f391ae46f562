"""Sending what an app sends (through the client pod's sidecar) and reading what its Envoy did."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import yaml
from multidict import CIMultiDict

from mainsail.api.client import ApiClient
from mainsail.platform.pod import PodSpec
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.waiting import wait_for

# Kinds a test may apply; all are removed after it.
RULE_KINDS = ("VirtualService", "DestinationRule", "ServiceEntry")
_HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC")
Z_999 = 3.29  # two-sided 99.9 % normal quantile


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: str

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def version(self) -> str:
        """The echo version that answered (``""`` when Envoy answered itself)."""
        try:
            return str(self.json().get("version", ""))
        except ValueError:
            return ""


def within_binomial(count: int, n: int, p: float) -> bool:
    """``count`` successes of ``n`` trials is plausible for probability ``p`` (99.9 %)."""
    margin = Z_999 * math.sqrt(n * p * (1 - p))
    return abs(count - n * p) <= margin


def _stripped(item: Any) -> Any:
    """A config_dump entry without the fields that change on every push."""
    if isinstance(item, dict):
        return {
            k: _stripped(v) for k, v in item.items() if k not in ("version_info", "last_updated")
        }
    if isinstance(item, list):
        return [_stripped(v) for v in item]
    return item


@dataclass(slots=True)
class Traffic:
    """The echo mesh as a test uses it: apply rules, send requests, read the client's Envoy."""

    mesh: LocalMesh
    api: ApiClient
    client: PodSpec
    baseline: dict[str, Any] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    @classmethod
    def attach(cls, mesh: LocalMesh) -> Traffic:
        # The control plane's API, as `mainsail apply` uses it (without a process per call).
        info = mesh.home.read_json(mesh.home.control_plane_file) or {}
        traffic = cls(mesh=mesh, api=ApiClient(str(info["api"])), client=mesh.pod("client"))
        traffic.baseline = traffic.client_config()
        return traffic

    @property
    def proxy(self) -> str:
        return f"http://{self.client.ip}:{self.client.proxy_ports.outbound}"

    # --- requests, as the client app sends them (plain URLs through its sidecar)
    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=200)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            self.http = http
            try:
                yield
            finally:
                self.http = None

    async def get(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        assert self.http is not None, "inside Traffic.session() only"
        async with self.http.request(
            method,
            url,
            proxy=self.proxy,
            headers=dict(headers or {}),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout) if timeout else None,
        ) as response:
            return Reply(response.status, CIMultiDict(response.headers), await response.text())

    def slow_get(self, url: str) -> tuple[int, float]:
        """(status, seconds) of one request, blocking, through the client's sidecar."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": self.proxy}))
        started = time.monotonic()
        try:
            with opener.open(url, timeout=60) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
        return status, time.monotonic() - started

    async def many(
        self,
        url: str,
        n: int,
        *,
        concurrency: int = 20,
        headers: Mapping[str, str] | None = None,
    ) -> list[Reply]:
        """``n`` requests, ``concurrency`` at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> Reply:
            async with gate:
                return await self.get(url, headers=headers)

        return list(await asyncio.gather(*(one() for _ in range(n))))

    async def versions(self, url: str, n: int, **options: Any) -> Counter[str]:
        replies = await self.many(url, n, **options)
        bad = [r for r in replies if r.status != 200]
        assert not bad, bad[:3]
        return Counter(r.version for r in replies)

    # --- rules
    async def apply(self, text: str) -> None:
        """Apply Istio YAML and wait until the client's sidecar holds every rule in it."""
        await asyncio.to_thread(self.api.apply, text, "test")
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        wanted = (
            [
                f'/{_KIND_PATHS[doc["kind"]]}/{doc["metadata"]["name"]}"'
                for doc in docs
                if doc["kind"] in _KIND_PATHS
            ]
            + [
                f'"outbound|{port["number"]}||{host}"'
                for doc in docs
                if doc["kind"] == "ServiceEntry"
                for host in doc["spec"]["hosts"]
                for port in doc["spec"]["ports"]
            ]
            + [
                # The route arrives after the cluster (make-before-break): wait for it too.
                f'"{host}:{port["number"]}"'
                for doc in docs
                if doc["kind"] == "ServiceEntry"
                for host in doc["spec"]["hosts"]
                for port in doc["spec"]["ports"]
                if port.get("protocol", "").upper() in _HTTP_PROTOCOLS
            ]
        )

        def holds_rules() -> bool:
            dump = json.dumps(self.client_config())
            return all(path in dump for path in wanted)

        await wait_for(holds_rules, timeout=10, message=f"client sidecar holds {wanted}")

    async def reset(self) -> None:
        """Delete every applied rule; wait until the client's sidecar is as it was at start."""
        listed = await asyncio.to_thread(self.api.list_config)
        keys = [
            (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"])
            for item in listed["items"]
            if item["kind"] in RULE_KINDS
        ]
        if keys:
            await asyncio.to_thread(self.api.delete_keys, keys)
        await wait_for(
            lambda: self.client_config() == self.baseline,
            timeout=10,
            message="client sidecar back to its original config",
        )

    # --- the client's Envoy
    def client_config(self) -> dict[str, Any]:
        """The client sidecar's clusters and routes (without per-push versions)."""
        dump = self.mesh.admin(self.client, "/config_dump")
        found: dict[str, Any] = {}
        for config in dump["configs"]:
            for item in config.get("dynamic_active_clusters", []):
                found[f"cluster/{item['cluster']['name']}"] = _stripped(item["cluster"])
            for item in config.get("dynamic_route_configs", []):
                found[f"route/{item['route_config']['name']}"] = _stripped(item["route_config"])
        return found

    def stats(self, pod: PodSpec | None = None, pattern: str = "") -> dict[str, int]:
        """Counters and gauges of a sidecar (the client's by default) whose name matches."""
        query = urllib.parse.urlencode({"filter": pattern})
        text = self.mesh.admin(pod or self.client, f"/stats?{query}")
        found: dict[str, int] = {}
        for line in str(text).splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                found[name] = int(value)
        return found

    def cluster_stat(self, cluster: str, stat: str) -> int:
        """One statistic of an outbound cluster (its stat name is Istio's: the name plus ``;``)."""
        name = f"cluster.{cluster};.{stat}"
        return self.stats(pattern=f"^{re.escape(name)}$").get(name, 0)


_KIND_PATHS = {"VirtualService": "virtual-service", "DestinationRule": "destination-rule"}


def cluster_name(host: str, subset: str = "", port: int = 8080) -> str:
    return f"outbound|{port}|{subset}|{host}.default.svc.cluster.local"


def count(replies: Iterable[Reply], status: int) -> int:
    return sum(1 for r in replies if r.status == status)
