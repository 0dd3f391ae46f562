"""Shared by the synthetic-mesh benchmarks: workloads and bootstraps for N services, an
in-process ``AdsServer`` on a grpc.aio server, real Envoys and simulated delta-ADS clients.

The simulated clients run in a child process (``python benchmarks/_mesh.py simulate ...``), so
they do not share the control plane's CPU or event loop. Not a benchmark itself.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc
from google.protobuf import json_format

from mainsail import naming
from mainsail.ads.node import proxy_node_from_envoy
from mainsail.ads.server import AdsServer
from mainsail.agent.bootstrap import BootstrapOptions, build_bootstrap
from mainsail.agent.workload import ProxyWorkload
from mainsail.config.base import Resource
from mainsail.config.parse import parse_documents
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.xds_client import SimulatedEnvoy
from mainsail.xds.resources import ProxyConfig

Generator = Callable[[ProxyNode], ProxyConfig]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class GcPauses:
    """Full (generation 2) garbage collections of this process and how long each took."""

    def __init__(self) -> None:
        self.full: list[float] = []
        self._started = 0.0
        self.explicit = False  # set around a ``gc.collect()`` of the caller's: not counted
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info["generation"] == 2 and not self.explicit:
            self.full.append(time.perf_counter() - self._started)

    def take(self) -> list[float]:
        found, self.full = self.full, []
        return found


# --- the mesh's workloads


def pod_ip(network_prefix: str, i: int) -> str:
    """Pod addresses in a random /16 of 127/8 (network_prefix like ``127.61``)."""
    return f"{network_prefix}.{i // 250}.{i % 250 + 1}"


def parse_mesh(text: str) -> tuple[Resource, ...]:
    parsed = parse_documents(text)
    if not parsed.ok:
        raise ValueError(parsed.errors[:3])
    return parsed.resources


def service_and_pod_yaml(
    network_prefix: str, i: int, labels: dict[str, str] | None = None
) -> list[str]:
    """``svc-<i>`` (port 8080, http) and its one Pod ``svc-<i>-0`` (extra pod labels)."""
    pod_labels = {"app": f"svc-{i}", **(labels or {})}
    flow = ", ".join(f"{k}: {v}" for k, v in pod_labels.items())
    return [
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: default}}\n"
        f"spec:\n  ports: [{{port: 8080, name: http}}]\n  selector: {{app: svc-{i}}}\n",
        f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: svc-{i}-0\n  namespace: default\n"
        f"  labels: {{{flow}}}\nspec:\n  containers: [{{name: app, image: app, "
        f"ports: [{{containerPort: 8080}}]}}]\nstatus: {{podIP: {pod_ip(network_prefix, i)}}}\n",
    ]


def workload(network_prefix: str, i: int, labels: dict[str, str] | None = None) -> ProxyWorkload:
    return ProxyWorkload(
        name=f"svc-{i}-0",
        namespace="default",
        ip=pod_ip(network_prefix, i),
        labels={"app": f"svc-{i}", **(labels or {})},
        app_ports={8080: 20000 + i},  # never bound: only the real Envoys' inbound cluster names it
    )


def proxy_bootstrap(
    network_prefix: str, i: int, xds_port: int, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=xds_port)
    return build_bootstrap(workload(network_prefix, i, labels), options)


def node_of(bootstrap: dict[str, Any]) -> ProxyNode:
    return proxy_node_from_envoy(json_format.ParseDict(bootstrap["node"], base_pb2.Node()))


# --- the control plane's side


@asynccontextmanager
async def ads_server(
    generator: Generator, on_idle: Callable[[], None] | None = None
) -> AsyncIterator[tuple[AdsServer, int]]:
    """An ``AdsServer`` on a grpc.aio server bound to an OS-chosen loopback port."""
    ads = AdsServer(generator) if on_idle is None else AdsServer(generator, on_idle=on_idle)
    server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 1000)])
    ads.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield ads, port
    finally:
        await ads.close()
        await server.stop(grace=None)


async def until_connected(ads: AdsServer, count: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(ads.proxy_status()) < count:
        if loop.time() > deadline:
            raise TimeoutError(f"{len(ads.proxy_status())} of {count} proxies connected")
        await asyncio.sleep(0.1)


async def start_envoys(
    network_prefix: str, count: int, xds_port: int, workdir: Path
) -> list[EnvoyProcess]:
    """Real Envoys for proxies 0..count-1 (one worker each)."""
    envoys: list[EnvoyProcess] = []
    for i in range(count):
        envoy = EnvoyProcess(
            proxy_bootstrap(network_prefix, i, xds_port),
            workdir / f"envoy-{i}",
            extra_args=("--concurrency", "1"),
        )
        envoys.append(await envoy.start())
    return envoys


def start_simulated(
    network_prefix: str, first: int, count: int, xds_port: int
) -> subprocess.Popen[bytes]:
    """Simulated delta-ADS clients for proxies first..first+count-1, in a child process."""
    return subprocess.Popen(
        [
            sys.executable, __file__, "simulate", "--xds-port", str(xds_port),
            "--network", network_prefix, "--first", str(first), "--count", str(count),
        ],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def envoy_pids(envoys: Sequence[EnvoyProcess]) -> list[int]:
    """Each Envoy's pid, found by the bootstrap path on its command line."""
    wanted = {str(envoy.workdir / "bootstrap.json") for envoy in envoys}
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if entry.name.isdigit() and wanted & set(argv):
            found.append(int(entry.name))
    return found


def envoy_rss(envoys: Sequence[EnvoyProcess]) -> list[float]:
    """RSS of each Envoy."""
    return [rss_mb(pid) for pid in envoy_pids(envoys)] or [0.0]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the simulated proxies (the child process)


class _QuietEnvoy(SimulatedEnvoy):
    """Costs what Envoy costs, roughly: no make-before-break check, and the EDS names of its
    clusters read once per CDS response, not on every response (re-parsing 4000 clusters per
    route update made 97 simulated clients, not the control plane, the bottleneck of a push)."""

    def __init__(self, *, delta: bool) -> None:
        super().__init__(delta=delta)
        self._eds_read_at: str | None = None
        self._eds_found: set[str] = set()

    def _check(self) -> None:
        """No make-before-break bookkeeping: it would cost more than the ACK itself."""

    def _eds_names(self) -> set[str]:
        # Held clusters change only when a CDS response is applied (wildcard: never by
        # re-subscription), and every CDS response moves its nonce.
        nonce = self.last_nonce.get(naming.CLUSTER_TYPE)
        if nonce != self._eds_read_at:
            self._eds_read_at, self._eds_found = nonce, super()._eds_names()
        return self._eds_found


async def simulate(args: argparse.Namespace) -> None:
    def stub() -> Any:
        # A connection per 10 clients, as real proxies have their own (one HTTP/2 connection
        # for all of them was cancelled under 100 x 8000-resource responses at once).
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{args.xds_port}",
            options=[
                ("grpc.max_receive_message_length", 256 * 1024 * 1024),
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        return ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)

    stubs = [stub() for _ in range((args.count + 9) // 10)]
    clients = [
        _simulated_client(stubs[n // 10], proxy_bootstrap(args.network, i, args.xds_port)["node"])
        for n, i in enumerate(range(args.first, args.first + args.count))
    ]
    await asyncio.gather(*clients)


async def _simulated_client(stub: Any, node_json: dict[str, Any]) -> None:
    """One delta-ADS stream that ACKs and subscribes as Envoy does, until the server hangs up;
    reconnected (as Envoy does) when the stream fails before the server ends it (under 100
    simultaneous first connections some streams were cancelled before their first response)."""
    node = json_format.ParseDict(node_json, base_pb2.Node())
    while True:
        try:
            await _stream(stub, node)
            return
        except grpc.aio.AioRpcError as e:
            print(f"simulated {node.id}: {e.code().name}; reconnecting", file=sys.stderr)
            await asyncio.sleep(0.5)


async def _stream(stub: Any, node: Any) -> None:
    envoy = _QuietEnvoy(delta=True)
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    first = envoy.start()
    first[0].node.CopyFrom(node)
    for request in first:
        outbox.put_nowait(request)

    async def requests() -> AsyncIterator[Any]:
        while True:
            yield await outbox.get()

    async for response in stub.DeltaAggregatedResources(requests()):
        for request in envoy.handle(response):
            outbox.put_nowait(request)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="simulated delta-ADS clients (internal)")
    parser.add_argument("part", choices=("simulate",))
    parser.add_argument("--xds-port", type=int, required=True)
    parser.add_argument("--network", required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    asyncio.run(simulate(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
