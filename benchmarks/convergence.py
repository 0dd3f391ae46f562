"""Convergence: from a config change being applied until every proxy has ACKed it.

(a) ``bookinfo``: the demo mesh (``mainsail up``, real Envoys). Each change is one POST to the
    control plane's apply API (what ``mainsail apply`` sends); the clock starts when it returns
    and stops when every proxy in ``/apis/proxy-status`` was pushed a newer generation and has
    ACKed every type it was sent (acked version == sent version). Debounce (100 ms) included.
(b) ``synthetic``: 1000 services (a Service and a Pod each, a VirtualService per tenth) and 100
    connected proxies, in-process: an ``AdsServer`` on a grpc.aio server, a few real Envoys
    (bootstraps from the node agent's ``build_bootstrap``) and simulated delta-ADS clients
    (``mainsail.testing.xds_client``) in a child process. A change is what the control plane
    does on a store change: ``build_snapshot`` + ``config_changed``; the clock starts before
    the snapshot is built and stops when ``AdsServer.wait_synced`` returns. Also reported:
    translation time per proxy (``generate``) for 100 vs 1000 services, and control-plane RSS.

Run: ``.venv/bin/python benchmarks/convergence.py [bookinfo|synthetic|all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc
from google.protobuf import json_format

from mainsail.ads.node import proxy_node_from_envoy
from mainsail.ads.server import AdsServer
from mainsail.agent.bootstrap import BootstrapOptions, build_bootstrap
from mainsail.agent.workload import ProxyWorkload
from mainsail.cli.mesh import demo_files
from mainsail.config.base import Resource
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_network
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.xds_client import SimulatedEnvoy
from mainsail.xds.generate import Translator, generate

BOOKINFO_TARGET_P99 = 0.250
SYNTHETIC_TARGET_P99 = 1.0
_NETWORKING = Path(demo_files()[1]).parents[1] / "networking"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(name: str, seconds: Sequence[float], target: float) -> str:
    p50, p99 = statistics.median(seconds), percentile(seconds, 99)
    verdict = "met" if p99 <= target else "NOT met"
    return (
        f"{name}: {len(seconds)} changes  p50 {p50 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms"
        f"  max {max(seconds) * 1000:.0f} ms  (target p99 <= {target * 1000:.0f} ms: {verdict})"
    )


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- (a) BookInfo with real Envoys


@dataclass(frozen=True, slots=True)
class ControlPlaneApi:
    base_url: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"content-type": "application/json"},
        )
        with _NO_PROXY.open(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def apply(self, path: Path) -> None:
        self.call("POST", "/apis/apply", {"text": path.read_text(), "source": path.name})

    def proxy_status(self) -> list[dict[str, Any]]:
        answer = self.call("GET", "/apis/proxy-status")
        rows: list[dict[str, Any]] = answer["proxies"] if isinstance(answer, dict) else answer
        return rows


def all_acked(rows: Sequence[dict[str, Any]], after_generation: int) -> bool:
    """Every proxy was pushed a generation newer than ``after_generation`` and ACKed it all."""
    return bool(rows) and all(
        row["generation"] > after_generation
        and all(
            t["acked_version"] == t["sent_version"] and not t["error"]
            for t in row["types"].values()
            if t["sent_version"]
        )
        for row in rows
    )


def bookinfo(changes: int, workdir: Path) -> list[float]:
    mesh = LocalMesh(demo_files(), workdir / "bookinfo")
    with mesh:
        info = mesh.home.read_json(mesh.home.control_plane_file) or {}
        api = ControlPlaneApi(str(info["api"]))
        api.apply(_NETWORKING / "destination-rule-all.yaml")
        _wait(lambda: all_acked(api.proxy_status(), -1), 30)
        time.sleep(0.5)
        files = [
            _NETWORKING / "virtual-service-all-v1.yaml",
            _NETWORKING / "virtual-service-reviews-50-v3.yaml",
        ]
        rows = api.proxy_status()
        print(
            f"bookinfo: {len(rows)} proxies; {changes} changes alternating {[f.name for f in files]}"
        )
        seconds: list[float] = []
        for n in range(changes):
            before = max(row["generation"] for row in api.proxy_status())
            api.apply(files[n % 2])
            applied = time.perf_counter()
            _wait(lambda before=before: all_acked(api.proxy_status(), before), 10)
            seconds.append(time.perf_counter() - applied)
            time.sleep(0.2)  # let the debounce window close between changes
        return seconds


def _wait(condition: Any, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not converged in {timeout} s")
        time.sleep(interval)


# --- (b) a synthetic mesh: 1000 services, 100 proxies


def mesh_yaml(services: int, network_prefix: str, variant: int = 0) -> str:
    """Service + Pod per service; a VirtualService per tenth (``variant`` changes svc-0's)."""
    docs: list[str] = []
    for i in range(services):
        ip = _pod_ip(network_prefix, i)
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: default}}\n"
            f"spec:\n  ports: [{{port: 8080, name: http}}]\n  selector: {{app: svc-{i}}}\n"
        )
        docs.append(
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: svc-{i}-0\n  namespace: default\n"
            f"  labels: {{app: svc-{i}}}\nspec:\n  containers: [{{name: app, image: app, "
            f"ports: [{{containerPort: 8080}}]}}]\nstatus: {{podIP: {ip}}}\n"
        )
        if i % 10 == 0:
            timeout = f"{5 + variant}s" if i == 0 else "5s"
            docs.append(
                f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                f"metadata: {{name: svc-{i}, namespace: default}}\n"
                f"spec:\n  hosts: [svc-{i}]\n  http:\n  - route:\n"
                f"    - destination: {{host: svc-{i}}}\n    timeout: {timeout}\n"
            )
    return "---\n".join(docs)


def _pod_ip(network_prefix: str, i: int) -> str:
    """Pod addresses in a random /16 of 127/8 (network_prefix like ``127.61``)."""
    return f"{network_prefix}.{i // 250}.{i % 250 + 1}"


def parse_mesh(text: str) -> tuple[Resource, ...]:
    parsed = parse_documents(text)
    if not parsed.ok:
        raise ValueError(parsed.errors[:3])
    return parsed.resources


def workload(network_prefix: str, i: int) -> ProxyWorkload:
    return ProxyWorkload(
        name=f"svc-{i}-0",
        namespace="default",
        ip=_pod_ip(network_prefix, i),
        labels={"app": f"svc-{i}"},
        app_ports={8080: 20000 + i},  # never bound: only the real Envoys' inbound cluster names it
    )


def proxy_bootstrap(network_prefix: str, i: int, xds_port: int) -> dict[str, Any]:
    options = BootstrapOptions(xds_host="127.0.0.1", xds_port=xds_port)
    return build_bootstrap(workload(network_prefix, i), options)


def translation_ms(
    snapshot: MeshSnapshot, nodes: Sequence[ProxyNode]
) -> tuple[float, float, float]:
    """Median wall and CPU ms of a proxy's whole translation (``generate``, nothing shared), and
    median wall ms of each further proxy of the same snapshot through one ``Translator`` (what the
    control plane does: service clusters, endpoints and route tables are shared)."""
    wall: list[float] = []
    cpu: list[float] = []
    for node in nodes:
        w, c = time.perf_counter(), time.process_time()
        generate(snapshot, node)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    translator = Translator(snapshot)
    translator.generate(nodes[0])
    further: list[float] = []
    for node in nodes[1:]:
        w = time.perf_counter()
        translator.generate(node)
        further.append(time.perf_counter() - w)
    return (
        statistics.median(wall) * 1000,
        statistics.median(cpu) * 1000,
        statistics.median(further) * 1000,
    )


def node_of(bootstrap: dict[str, Any]) -> ProxyNode:
    return proxy_node_from_envoy(json_format.ParseDict(bootstrap["node"], base_pb2.Node()))


@asynccontextmanager
async def ads_server(snapshot: MeshSnapshot) -> AsyncIterator[tuple[AdsServer, int]]:
    ads = AdsServer(_generator(snapshot))
    server = grpc.aio.server(options=[("grpc.max_concurrent_streams", 1000)])
    ads.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield ads, port
    finally:
        await ads.close()
        await server.stop(grace=None)


def _generator(snapshot: MeshSnapshot) -> Any:
    """What the control plane hands the ADS server: one Translator per snapshot."""
    return Translator(snapshot).generate


async def synthetic(args: argparse.Namespace, workdir: Path) -> None:
    prefix = random_loopback_network(16).rsplit(".", 2)[0]
    print(
        f"synthetic: {args.services} services, {args.proxies} proxies ({args.envoys} real Envoys)"
    )

    # Translation cost per proxy, 100 vs 1000 services (baseline in the same run).
    nodes = [node_of(proxy_bootstrap(prefix, i, 1)) for i in range(5)]
    for count in (args.services // 10, args.services):
        resources = parse_mesh(mesh_yaml(count, prefix))
        built = time.perf_counter()
        snap = build_snapshot(resources)
        build_ms = (time.perf_counter() - built) * 1000
        wall, cpu, further = translation_ms(snap, nodes)
        print(
            f"  {count:5d} services: build_snapshot {build_ms:6.0f} ms;"
            f" full translation of one proxy {wall:6.1f} ms wall, {cpu:6.1f} ms CPU;"
            f" each further proxy (shared) {further:5.1f} ms"
            f" -> {args.proxies} proxies = {(wall + further * (args.proxies - 1)) / 1000:.2f} s"
        )

    rss_before = rss_mb()
    variants = [parse_mesh(mesh_yaml(args.services, prefix, v)) for v in (0, 1)]
    snapshot = build_snapshot(variants[0])
    envoys: list[EnvoyProcess] = []
    simulated: subprocess.Popen[bytes] | None = None
    async with ads_server(snapshot) as (ads, port):
        try:
            connect = time.perf_counter()
            for i in range(args.envoys):
                envoy = EnvoyProcess(
                    proxy_bootstrap(prefix, i, port),
                    workdir / f"envoy-{i}",
                    extra_args=("--concurrency", "1"),
                )
                envoys.append(await envoy.start())
            simulated = subprocess.Popen(
                [
                    sys.executable, __file__, "simulate", "--xds-port", str(port),
                    "--network", prefix, "--first", str(args.envoys), "--count",
                    str(args.proxies - args.envoys),
                ],
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            await _until_connected(ads, args.proxies, timeout=600)
            await ads.wait_synced(timeout=600)
            print(
                f"  {args.proxies} proxies connected and synced in"
                f" {time.perf_counter() - connect:.1f} s"
            )
            print(
                f"  control-plane RSS: {rss_before:.0f} MB before the mesh, {rss_mb():.0f} MB with it"
            )
            seconds: list[float] = []
            for n in range(args.synthetic_changes):
                generation = ads.generation
                start = time.perf_counter()
                ads.config_changed(_generator(build_snapshot(variants[(n + 1) % 2])))
                while ads.generation == generation:  # the debounce has not fired yet
                    await asyncio.sleep(0.001)
                await ads.wait_synced(timeout=600)
                seconds.append(time.perf_counter() - start)
                print(
                    f"  change {n + 1}: all {args.proxies} ACKed in {seconds[-1]:.2f} s", flush=True
                )
            print("  " + summary("synthetic", seconds, SYNTHETIC_TARGET_P99))
            print(f"  control-plane RSS after the changes: {rss_mb():.0f} MB")
            print(f"  real Envoy RSS: {statistics.median(_envoy_rss(envoys)):.0f} MB median")
        finally:
            if simulated is not None:
                simulated.terminate()
                simulated.wait(10)
            for envoy in envoys:
                await envoy.stop()


def _envoy_rss(envoys: Sequence[EnvoyProcess]) -> list[float]:
    """RSS of each Envoy, found by the bootstrap path on its command line."""
    wanted = {str(envoy.workdir / "bootstrap.json") for envoy in envoys}
    found: list[float] = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if entry.name.isdigit() and wanted & set(argv):
            found.append(rss_mb(entry.name))
    return found or [0.0]


async def _until_connected(ads: AdsServer, count: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(ads.proxy_status()) < count:
        if loop.time() > deadline:
            raise TimeoutError(f"{len(ads.proxy_status())} of {count} proxies connected")
        await asyncio.sleep(0.1)


# --- the simulated proxies (a child process, so they do not share the control plane's CPU)


class _QuietEnvoy(SimulatedEnvoy):
    def _check(self) -> None:
        """No make-before-break bookkeeping: it would cost more than the ACK itself."""


async def simulate(args: argparse.Namespace) -> None:
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{args.xds_port}",
        options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)],
    )
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    clients = [
        _simulated_client(stub, proxy_bootstrap(args.network, i, args.xds_port)["node"])
        for i in range(args.first, args.first + args.count)
    ]
    await asyncio.gather(*clients)


async def _simulated_client(stub: Any, node_json: dict[str, Any]) -> None:
    """One delta-ADS stream that ACKs and subscribes as Envoy does, until the server hangs up."""
    node = json_format.ParseDict(node_json, base_pb2.Node())
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


# --- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "part", nargs="?", default="all", choices=("all", "bookinfo", "synthetic", "simulate")
    )
    parser.add_argument("--changes", type=int, default=30, help="BookInfo changes")
    parser.add_argument("--synthetic-changes", type=int, default=5)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--envoys", type=int, default=5, help="real Envoys among the proxies")
    # (internal) the simulated proxies' child process
    parser.add_argument("--xds-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--network", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part == "simulate":
        asyncio.run(simulate(args))
        return
    with tempfile.TemporaryDirectory(prefix="mainsail-convergence-") as tmp:
        if args.part in ("all", "bookinfo"):
            print(summary("bookinfo", bookinfo(args.changes, Path(tmp)), BOOKINFO_TARGET_P99))
        if args.part in ("all", "synthetic"):
            asyncio.run(synthetic(args, Path(tmp)))


if __name__ == "__main__":
    main()
