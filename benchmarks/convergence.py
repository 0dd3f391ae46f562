"""Convergence: from a config change being applied until every proxy has ACKed it.

(a) ``bookinfo``: the demo mesh (``mainsail up``, real Envoys). Each change is one POST to the
    control plane's apply API (what ``mainsail apply`` sends); the clock starts when it returns
    and stops when every proxy in ``/apis/proxy-status`` was pushed a newer generation and has
    ACKed every type it was sent (acked version == sent version). Debounce (100 ms) included.
(b) ``synthetic``: 1000 services (a Service and a Pod each, a VirtualService per tenth) and 100
    connected proxies, in-process: an ``AdsServer`` on a grpc.aio server, a few real Envoys
    (bootstraps from the node agent's ``build_bootstrap``) and simulated delta-ADS clients
    (``mainsail.testing.xds_client``) in a child process. A change is what the control plane
    does on a store change: ``build_snapshot`` + ``config_changed`` with a Translator sharing
    the control plane's translation cache; the clock starts before the snapshot is built and
    stops when ``AdsServer.wait_synced`` returns. Also reported:
    translation time per proxy (``generate``) for 100 vs 1000 services, and control-plane RSS.

Run: ``.venv/bin/python benchmarks/convergence.py [bookinfo|synthetic|all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _mesh import (
    GcPauses,
    ads_server,
    envoy_rss,
    node_of,
    parse_mesh,
    percentile,
    proxy_bootstrap,
    rss_mb,
    service_and_pod_yaml,
    start_envoys,
    start_simulated,
    until_connected,
)

from mainsail.cli.mesh import demo_files
from mainsail.config.base import Resource
from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_network
from mainsail.testing.mesh import LocalMesh
from mainsail.xds.generate import Translator, generate
from mainsail.xds.translation_cache import TranslationCache

BOOKINFO_TARGET_P99 = 0.250
SYNTHETIC_TARGET_P99 = 1.0
_NETWORKING = Path(demo_files()[1]).parents[1] / "networking"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def summary(name: str, seconds: Sequence[float], target: float) -> str:
    p50, p99 = statistics.median(seconds), percentile(seconds, 99)
    verdict = "met" if p99 <= target else "NOT met"
    return (
        f"{name}: {len(seconds)} changes  p50 {p50 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms"
        f"  max {max(seconds) * 1000:.0f} ms  (target p99 <= {target * 1000:.0f} ms: {verdict})"
    )


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
        docs += service_and_pod_yaml(network_prefix, i)
        if i % 10 == 0:
            timeout = f"{5 + variant}s" if i == 0 else "5s"
            docs.append(
                f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                f"metadata: {{name: svc-{i}, namespace: default}}\n"
                f"spec:\n  hosts: [svc-{i}]\n  http:\n  - route:\n"
                f"    - destination: {{host: svc-{i}}}\n    timeout: {timeout}\n"
            )
    return "---\n".join(docs)


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


def _settle_heap() -> None:
    # Imported here: ``--gc off`` runs against trees that predate it (PYTHONPATH=<tree>/src).
    from mainsail.runtime.control_plane import settle_heap

    settle_heap()


def _generator(snapshot: MeshSnapshot, cache: TranslationCache | None) -> Any:
    """What the control plane hands the ADS server: one Translator per snapshot, sharing the
    control plane's translation cache (``runtime.control_plane.generator_for``)."""
    return Translator(snapshot, cache).generate


def _as_the_store_keeps_them(
    variants: list[tuple[Resource, ...]],
) -> list[tuple[Resource, ...]]:
    """The variants with every object equal in both the same instance, as the store keeps an
    unchanged object's instance (the translation cache and the incremental snapshot rely on
    it); parsed apart, all 4000 objects looked changed on every change."""
    first, second = variants
    assert len(first) == len(second), "the variants differ in their objects, not their count"
    return [first, tuple(a if a == b else b for a, b in zip(first, second, strict=True))]


class _SnapshotChain:
    """Snapshots as the control plane builds them (``snapshot.incremental``), or whole where
    the tree predates that (PYTHONPATH=<older tree>/src)."""

    def __init__(self, mesh: MeshConfig) -> None:
        self.mesh = mesh
        self.last: Any = None
        try:
            from mainsail.snapshot.incremental import snapshot_basis
        except ImportError:
            self.basis: Any = None
        else:
            self.basis = snapshot_basis

    def build(self, resources: tuple[Resource, ...]) -> MeshSnapshot:
        if self.basis is None:
            return build_snapshot(resources, self.mesh)
        self.last = self.basis(resources, self.mesh, self.last)
        snapshot: MeshSnapshot = self.last.snapshot
        return snapshot


async def synthetic(args: argparse.Namespace, workdir: Path) -> None:
    prefix = random_loopback_network(16).rsplit(".", 2)[0]
    print(
        f"synthetic: {args.services} services, {args.proxies} proxies ({args.envoys} real Envoys);"
        f" translation cache {'off' if args.no_cache else 'on'}"
    )

    # Translation cost per proxy, 100 vs 1000 services (baseline in the same run).
    nodes = [node_of(proxy_bootstrap(prefix, i, 1)) for i in range(5)]
    for count in (args.services // 10, args.services):
        resources = parse_mesh(mesh_yaml(count, prefix))
        built = time.perf_counter()
        snap = build_snapshot(resources)
        build_ms = (time.perf_counter() - built) * 1000
        wall, cpu_ms, further = translation_ms(snap, nodes)
        print(
            f"  {count:5d} services: build_snapshot {build_ms:6.0f} ms;"
            f" full translation of one proxy {wall:6.1f} ms wall, {cpu_ms:6.1f} ms CPU;"
            f" each further proxy (shared) {further:5.1f} ms"
            f" -> {args.proxies} proxies = {(wall + further * (args.proxies - 1)) / 1000:.2f} s"
        )

    rss_before = rss_mb()
    variants = _as_the_store_keeps_them(
        [parse_mesh(mesh_yaml(args.services, prefix, v)) for v in (0, 1)]
    )
    # One MeshConfig for every snapshot, as the control plane keeps its settings (the
    # translation cache keys on its identity: a new one per snapshot missed every entry).
    mesh = MeshConfig()
    snapshots = _SnapshotChain(mesh)
    snapshot = snapshots.build(variants[0])
    cache = None if args.no_cache else TranslationCache()
    envoys: list[EnvoyProcess] = []
    simulated: subprocess.Popen[bytes] | None = None
    async with ads_server(_generator(snapshot, cache)) as (ads, port):
        try:
            connect = time.perf_counter()
            envoys = await start_envoys(prefix, args.envoys, port, workdir)
            simulated = start_simulated(prefix, args.envoys, args.proxies - args.envoys, port)
            await until_connected(ads, args.proxies, timeout=600)
            await ads.wait_synced(timeout=600)
            print(
                f"  {args.proxies} proxies connected and synced in"
                f" {time.perf_counter() - connect:.1f} s"
            )
            print(
                f"  control-plane RSS: {rss_before:.0f} MB before the mesh, {rss_mb():.0f} MB with it"
            )
            seconds: list[float] = []
            cpu: list[float] = []
            if args.gc == "freeze":
                _settle_heap()
            pauses = GcPauses()
            for n in range(args.synthetic_changes):
                generation = ads.generation
                cpu_start = time.process_time()  # this process: the control plane's CPU
                start = time.perf_counter()
                ads.config_changed(_generator(snapshots.build(variants[(n + 1) % 2]), cache))
                if args.gc == "freeze":
                    pauses.explicit = True
                    _settle_heap()  # as the control plane does after each store change
                    pauses.explicit = False
                while ads.generation == generation:  # the debounce has not fired yet
                    await asyncio.sleep(0.001)
                await ads.wait_synced(timeout=600)
                seconds.append(time.perf_counter() - start)
                cpu.append(time.process_time() - cpu_start)
                print(
                    f"  change {n + 1}: all {args.proxies} ACKed in {seconds[-1]:.2f} s"
                    f" (control-plane CPU {cpu[-1]:.2f} s)",
                    flush=True,
                )
            print("  " + summary("synthetic", seconds, SYNTHETIC_TARGET_P99))
            print(f"  control-plane CPU per change: median {statistics.median(cpu):.2f} s")
            full = pauses.take()
            print(
                f"  full GCs during the changes ({args.gc}): {len(full)},"
                f" {sum(full) * 1000:.0f} ms in all, longest {max(full, default=0) * 1000:.0f} ms"
            )
            print(f"  control-plane RSS after the changes: {rss_mb():.0f} MB")
            print(f"  real Envoy RSS: {statistics.median(envoy_rss(envoys)):.0f} MB median")
        finally:
            if simulated is not None:
                simulated.terminate()
                simulated.wait(10)
            for envoy in envoys:
                await envoy.stop()


# --- main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", default="all", choices=("all", "bookinfo", "synthetic"))
    parser.add_argument("--changes", type=int, default=30, help="BookInfo changes")
    parser.add_argument("--synthetic-changes", type=int, default=5)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--envoys", type=int, default=5, help="real Envoys among the proxies")
    parser.add_argument(
        "--no-cache", action="store_true", help="synthetic: translate every change from scratch"
    )
    parser.add_argument(
        "--gc",
        choices=("freeze", "off"),
        default="freeze",
        help="synthetic: gc.freeze after each change as the control plane does, or not",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-convergence-") as tmp:
        if args.part in ("all", "bookinfo"):
            print(summary("bookinfo", bookinfo(args.changes, Path(tmp)), BOOKINFO_TARGET_P99))
        if args.part in ("all", "synthetic"):
            asyncio.run(synthetic(args, Path(tmp)))


if __name__ == "__main__":
    main()
