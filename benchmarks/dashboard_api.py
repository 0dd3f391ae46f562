"""The dashboard's cost for a 100-service mesh: graph API latency and the metrics window's memory.

A synthetic mesh, no Envoys: ``--services`` services in 5 namespaces, two versions each (one
pod each), every workload calling 3 other services, an ingress gateway calling 10 of them, ~5 %
of the calls answered 503. Each scrape round every series moves (the worst case for the
window: nothing is zero), request counts and latency buckets as Envoy reports them, both
reporters. Rounds are fed to ``MetricsWindow.ingest`` as the scraper does (``PodScrape`` per
pod, cumulative values), ``--interval`` seconds apart.

1. Memory: a window fed ``--history`` seconds of rounds (30 min at the default 5 s: 360 rounds),
   measured with ``tracemalloc`` as the size of a faithful copy of it (pickled, then unpickled
   while tracing: tracing the whole fill would take ten minutes): the slots and blocks, the key
   table and every pod's last scrape (the baseline of its next increase).
2. Graph latency: ``GET /api/graph?window=W`` through the real aiohttp app (``TestServer`` on
   loopback, one client), W = 1m (the pages' default), 5m and 30m; ``--requests`` times: a new
   scrape round lands (not timed), the control plane computes the answers pages watch (what its
   scraper does after each round: the window's running sums moved by the new slot, the graph
   built, JSON encoded; timed, wall and CPU), then the page's request; p50/p99 of each.
   Baseline, measured in the same run: ``build_graph`` alone (no HTTP, no JSON) and
   ``window.totals`` alone.
3. One scrape round's parse cost: ``reduce_scrape`` of every pod's page rendered as Envoy's
   text (with 400 ``envoy_*`` lines per page standing in for Envoy's own statistics).

    .venv/bin/python benchmarks/dashboard_api.py [--services 100] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import pickle
import random
import statistics
import time
import tracemalloc
from array import array
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from mainsail.config.mesh import MeshConfig
from mainsail.dashboard.app import GRAPH_ANSWERS, build_dashboard_app
from mainsail.dashboard.graph import MeshInventory, build_graph
from mainsail.dashboard.metrics_window import MetricsWindow
from mainsail.dashboard.series_keys import (
    BUCKET_BOUNDS,
    HistogramKey,
    LineMemo,
    PodScrape,
    SeriesKey,
    reduce_scrape,
)
from mainsail.dashboard.sources import DashboardSources
from mainsail.platform.pod import PodSpec
from mainsail.runtime.trace_collector import TraceStore
from mainsail.snapshot.mesh_snapshot import build_snapshot

NAMESPACES = 5
CALLS_PER_WORKLOAD = 3
GATEWAY = ("istio-system", "istio-ingressgateway")


class SyntheticMesh:
    """Every series of the mesh with its cumulative value, advanced one round at a time."""

    def __init__(self, services: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.services = [(f"ns{i % NAMESPACES}", f"svc{i:03d}") for i in range(services)]
        self.workloads = [
            (ns, f"{name}-{v}", name, v) for ns, name in self.services for v in ("v1", "v2")
        ]
        # (caller ns, caller workload, caller app, caller version) → callee services.
        self.calls: list[tuple[tuple[str, str, str, str], tuple[str, str]]] = []
        for index, workload in enumerate(self.workloads):
            for step in (1, 7, 31)[:CALLS_PER_WORKLOAD]:
                self.calls.append((workload, self.services[(index // 2 + step) % services]))
        gateway = (*GATEWAY, "istio-ingressgateway", "unknown")
        self.calls += [(gateway, self.services[i]) for i in range(0, services, services // 10)]
        self.counters: dict[str, dict[SeriesKey, float]] = {}
        self.histograms: dict[str, dict[HistogramKey, list[float]]] = {}

    def pod_of(self, namespace: str, workload: str) -> str:
        return f"{namespace}.{workload}-0"

    def _count(self, pod: str, key: SeriesKey, n: float) -> None:
        into = self.counters.setdefault(pod, {})
        into[key] = into.get(key, 0.0) + n

    def _observe(self, pod: str, key: HistogramKey, latencies: list[float]) -> None:
        into = self.histograms.setdefault(pod, {})
        buckets = into.setdefault(key, [0.0] * len(BUCKET_BOUNDS))
        first: dict[int, int] = {}
        for latency in latencies:
            index = bisect.bisect_left(BUCKET_BOUNDS, latency)
            first[index] = first.get(index, 0) + 1
        for start, n in first.items():  # cumulative: every bucket from its own on
            for index in range(start, len(buckets)):
                buckets[index] += n

    def advance(self) -> None:
        rnd = self.random
        for (c_ns, c_wl, c_app, c_ver), (s_ns, s_name) in self.calls:
            host = f"{s_name}.{s_ns}.svc.cluster.local"
            for version in ("v1", "v2"):
                ok = rnd.randint(1, 10)
                failed = 1 if rnd.random() < 0.05 else 0
                server = f"{s_name}-{version}"
                for reporter, pod in (
                    ("source", self.pod_of(c_ns, c_wl)),
                    ("destination", self.pod_of(s_ns, server)),
                ):
                    security = "mutual_tls" if reporter == "destination" else "unknown"
                    for code, n in (("200", ok), ("503", failed)):
                        if n or code == "200":
                            key = SeriesKey("requests", reporter, c_wl, c_ns, c_app, c_ver,
                                            f"spiffe://cluster.local/ns/{c_ns}/sa/{c_app}",
                                            server, s_ns, s_name, version, host, s_name, s_ns,
                                            "http", code, "", "-", security)  # fmt: skip
                            self._count(pod, key, n)
                    hist = HistogramKey(reporter, c_wl, c_ns, server, s_ns, host, s_name, s_ns)
                    # Most calls fast, one slower: two buckets move per round, as in a live mesh.
                    self._observe(pod, hist, [rnd.uniform(1, 5)] * (ok - 1) + [rnd.uniform(5, 50)])

    def scrapes(self) -> dict[str, PodScrape]:
        pods = set(self.counters) | set(self.histograms)
        return {
            pod: PodScrape(
                counters=dict(self.counters.get(pod, {})),
                histograms={k: array("d", v) for k, v in self.histograms.get(pod, {}).items()},
            )
            for pod in pods
        }

    def page_text(self, pod: str) -> str:
        """The pod's page as Envoy's ``:15090`` prints it (label names in Istio's order)."""
        lines = [f'envoy_cluster_upstream_rq{{envoy_cluster_name="c{i}"}} {i}' for i in range(400)]
        for key, value in self.counters.get(pod, {}).items():
            labels = ",".join(
                f'{n}="{v}"' for n, v in zip(SeriesKey._fields[1:], key[1:], strict=True)
            )
            lines.append(f"istio_requests_total{{{labels}}} {value:g}")
        for hist, buckets in self.histograms.get(pod, {}).items():
            labels = ",".join(f'{n}="{v}"' for n, v in zip(HistogramKey._fields, hist, strict=True))
            for bound, count in zip(BUCKET_BOUNDS, buckets, strict=True):
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(
                    f'istio_request_duration_milliseconds_bucket{{{labels},le="{le}"}} {count:g}'
                )
        return "\n".join(lines) + "\n"

    def inventory(self) -> MeshInventory:
        return MeshInventory(gateways=frozenset({GATEWAY}))

    def pods(self) -> list[PodSpec]:
        found = [
            PodSpec(name=f"{wl}-0", namespace=ns, ip=f"127.2.{i // 250}.{i % 250 + 1}",
                    workload_name=wl, labels={"app": app, "version": v})
            for i, (ns, wl, app, v) in enumerate(self.workloads)
        ]  # fmt: skip
        found.append(
            PodSpec(name="istio-ingressgateway-0", namespace=GATEWAY[0], ip="127.2.9.1",
                    workload_name=GATEWAY[1], proxy_type="router")
        )  # fmt: skip
        return found


def fill(window: MetricsWindow, mesh: SyntheticMesh, rounds: int, interval: float) -> float:
    start = time.time() - rounds * interval
    for index in range(rounds + 1):
        mesh.advance()
        window.ingest(start + index * interval, mesh.scrapes())
    return start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], Any], repeats: int) -> list[float]:
    found = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def traced_size(value: object) -> int:
    """Bytes ``value`` holds, by tracemalloc: the size of a faithful copy made while tracing
    (pickle keeps sharing: an object referenced twice is copied once)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    tracemalloc.start()
    copy = pickle.loads(data)
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del copy
    return size


def memory(window: MetricsWindow, mesh: SyntheticMesh, args: argparse.Namespace) -> None:
    slots = list(window.slots(0))
    entries = sum(len(s.counter_ids) + len(s.bucket_codes) for s in slots)
    whole = traced_size(window)
    baselines = traced_size(window._last)
    series = sum(len(s.counters) for s in mesh.scrapes().values())
    print(f"memory: {len(slots)} slots/blocks for {args.history:g}s at {args.interval:g}s, "
          f"{entries} non-zero entries, {len(window._keys)} keys, {series} counter series")  # fmt: skip
    print(f"memory: the window holds {whole / 1e6:.1f} MB (tracemalloc): increases "
          f"{(whole - baselines) / 1e6:.1f} MB, the pods' last scrapes (baselines) "
          f"{baselines / 1e6:.1f} MB")  # fmt: skip


async def latency(window: MetricsWindow, mesh: SyntheticMesh, args: argparse.Namespace) -> None:
    pods = mesh.pods()
    snapshot = build_snapshot((), MeshConfig())
    sources = DashboardSources(
        objects=lambda: (),
        snapshot=lambda: snapshot,
        mesh=MeshConfig(),
        pods=lambda: pods,
        proxy_status=list,
        traces=TraceStore(),
        window=window,
        static_dir=Path("/nonexistent"),
    )
    app = build_dashboard_app(sources)
    answers = app[GRAPH_ANSWERS]
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        when = window.latest or time.time()
        for label, seconds in (("1m", 60.0), ("5m", 300.0), ("30m", 1800.0)):
            repeats = max(5, args.requests // 10)
            totals_ms = timed(partial(window.totals, seconds), repeats)
            totals = window.totals(seconds)
            graph_ms = timed(partial(build_graph, totals, mesh.inventory()), repeats)
            await client.get(f"/api/graph?window={label}")  # a page asks: watched from now on
            compute_ms: list[float] = []
            compute_cpu: list[float] = []
            request_ms: list[float] = []
            nodes = edges = 0
            for _ in range(args.requests):
                # A scrape lands (not timed); the control plane computes the watched answer
                # ahead (what its scraper does after each round: the window's running sums
                # moved by the new slot, the graph built, JSON encoded); then the page asks.
                when += args.interval
                mesh.advance()
                window.ingest(when, mesh.scrapes())
                started, cpu = time.perf_counter(), time.process_time()
                await answers.refresh()
                compute_ms.append((time.perf_counter() - started) * 1000)
                compute_cpu.append((time.process_time() - cpu) * 1000)
                started = time.perf_counter()
                response = await client.get(f"/api/graph?window={label}")
                body = await response.json()
                request_ms.append((time.perf_counter() - started) * 1000)
                assert response.status == 200, body
                nodes, edges = len(body["nodes"]), len(body["edges"])
            for asked in list(answers._asked):
                del answers._asked[asked]  # the next window size only
            print(
                f"graph window={label:>3}: {nodes} nodes, {edges} edges | GET /api/graph p50 "
                f"{statistics.median(request_ms):.1f} ms p99 {percentile(request_ms, 0.99):.1f}"
                f" ms | computed after each scrape p50 {statistics.median(compute_ms):.1f} ms "
                f"p99 {percentile(compute_ms, 0.99):.1f} ms (CPU p50 "
                f"{statistics.median(compute_cpu):.1f} ms) | build_graph p50 "
                f"{statistics.median(graph_ms):.1f} ms | window.totals p50 "
                f"{statistics.median(totals_ms):.1f} ms"
            )
    finally:
        await client.close()


def parse_cost(args: argparse.Namespace) -> None:
    mesh = SyntheticMesh(args.services)
    for _ in range(3):
        mesh.advance()
    pages = {pod: mesh.page_text(pod) for pod in mesh.scrapes()}
    size = sum(len(p) for p in pages.values())
    cold = timed(lambda: [reduce_scrape(p) for p in pages.values()], 3)
    memo: LineMemo = {}
    warm = timed(lambda: [reduce_scrape(p, memo) for p in pages.values()], 5)
    print(f"scrape round: {len(pages)} pages, {size / 1e6:.1f} MB of text, reduce_scrape "
          f"{statistics.median(cold):.0f} ms per round without the scraper's memo of label "
          f"texts, {statistics.median(warm):.0f} ms with it (a worker thread); the memo holds "
          f"{len(memo)} label texts, {traced_size(memo) / 1e6:.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200, help="GETs per window size")
    parser.add_argument("--history", type=float, default=1800.0)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(the machine is shared: wall-clock figures include waiting for a CPU)")  # fmt: skip
    mesh = SyntheticMesh(args.services)
    window = MetricsWindow(history=args.history, interval=args.interval)
    started = time.perf_counter()
    fill(window, mesh, int(args.history / args.interval), args.interval)
    rounds = int(args.history / args.interval) + 1
    print(f"fill: {rounds} rounds, {(time.perf_counter() - started) / rounds * 1000:.0f} ms per "
          "round (synthetic scrapes + MetricsWindow.ingest)", flush=True)  # fmt: skip
    memory(window, mesh, args)
    asyncio.run(latency(window, mesh, args))
    parse_cost(args)


if __name__ == "__main__":
    main()
