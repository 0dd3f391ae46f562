"""Sidecar scoping: what a real Envoy holds when it sees every service vs 10 of them.

The mesh of ``translation_cost.py`` (1000 services, a VirtualService of 10 routes and a
DestinationRule with 3 subsets each), served by an in-process ``AdsServer`` wired as the control
plane wires it. Two real Envoys (one worker each): proxy 0 sees every service; proxy 1 is
governed by a Sidecar (``workloadSelector`` on its pod) whose ``egress.hosts`` name 10 services.
Once both ACKed, for each: RSS (``/proc``), Envoy's heap (admin ``/memory``: ``allocated`` and
``heap_size``), the size of ``/config_dump?include_eds`` and the number of clusters. The ratio
all/scoped is the saving. (A baseline Envoy before any config is also reported.)

Run: ``.venv/bin/python benchmarks/sidecar_scoping.py [--services 1000 --scoped 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _mesh import ads_server, envoy_rss, proxy_bootstrap
from translation_cost import new_store

from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.runtime.control_plane import generator_for
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_network
from mainsail.xds.translation_cache import TranslationCache


@dataclass(frozen=True, slots=True)
class EnvoyFootprint:
    rss_mb: float
    allocated_mb: float
    heap_mb: float
    dump_mb: float
    clusters: int

    def line(self, name: str) -> str:
        return (
            f"  {name:<22} RSS {self.rss_mb:6.1f} MB  heap allocated {self.allocated_mb:6.1f} MB"
            f" (heap size {self.heap_mb:6.1f} MB)  config dump {self.dump_mb:6.2f} MB"
            f"  clusters {self.clusters}"
        )


def sidecar_yaml(selected: int, scoped: int) -> str:
    hosts = ", ".join(f"./svc-{i}.default.svc.cluster.local" for i in range(scoped))
    return (
        f"apiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata: {{name: scoped, namespace: default}}\n"
        f"spec:\n  workloadSelector: {{labels: {{app: svc-{selected}}}}}\n"
        f"  egress:\n  - hosts: [{hosts}]\n"
    )


async def footprint(envoy: EnvoyProcess) -> EnvoyFootprint:
    memory = json.loads(await envoy.admin("/memory"))
    dump = await envoy.admin("/config_dump?include_eds")
    configs: list[dict[str, Any]] = json.loads(dump)["configs"]
    found = [c for c in configs if c["@type"].endswith("ClustersConfigDump")]
    dynamic = found[0].get("dynamic_active_clusters", []) if found else []
    return EnvoyFootprint(
        rss_mb=envoy_rss([envoy])[0],
        allocated_mb=int(memory["allocated"]) / 2**20,
        heap_mb=int(memory["heap_size"]) / 2**20,
        dump_mb=len(dump.encode()) / 2**20,
        clusters=len(dynamic),
    )


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    prefix = random_loopback_network(16).rsplit(".", 2)[0]
    store = new_store(args.services, prefix)
    store.apply(parse_documents(sidecar_yaml(1, args.scoped)))
    print(
        f"sidecar scoping: {args.services} services; proxy 0 sees all, proxy 1 is scoped by a"
        f" Sidecar to {args.scoped}"
    )
    async with ads_server(generator_for(store, MeshConfig(), TranslationCache())) as (ads, port):
        envoys = [
            EnvoyProcess(
                proxy_bootstrap(prefix, i, port),
                workdir / f"envoy-{i}",
                extra_args=("--concurrency", "1"),
            )
            for i in (0, 1)
        ]
        try:
            bare = EnvoyProcess(
                proxy_bootstrap(prefix, 2, 1),
                workdir / "envoy-bare",
                extra_args=("--concurrency", "1"),
            )
            await bare.start()
            baseline = await footprint(bare)
            await bare.stop()
            started = time.perf_counter()
            for envoy in envoys:
                await envoy.start()
            while len(ads.proxy_status()) < 2:
                await asyncio.sleep(0.1)
            await ads.wait_synced(timeout=600)
            print(f"  both Envoys ACKed in {time.perf_counter() - started:.1f} s")
            await asyncio.sleep(2)  # let Envoy settle its memory after the updates
            whole, scoped = [await footprint(e) for e in envoys]
            print(baseline.line("no config (bootstrap)"))
            print(whole.line(f"all {args.services} services"))
            print(scoped.line(f"scoped to {args.scoped}"))
            print(
                f"  all/scoped: RSS {whole.rss_mb / scoped.rss_mb:.1f}x, heap allocated"
                f" {whole.allocated_mb / scoped.allocated_mb:.1f}x, config dump"
                f" {whole.dump_mb / scoped.dump_mb:.0f}x; above the bare Envoy: RSS"
                f" {(whole.rss_mb - baseline.rss_mb) / max(scoped.rss_mb - baseline.rss_mb, 0.1):.0f}x"
            )
        finally:
            for envoy in envoys:
                await envoy.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--scoped", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-scoping-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
