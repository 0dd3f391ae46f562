"""Translation cost against config size, and an incremental push after one weight change.

The mesh: N services (a Service and a Pod each, pods labelled ``version: v1|v2|v3``), each with
a VirtualService of 10 HTTP routes (header, prefix, exact, regex, method, query and authority
matches; weighted subset destinations; a weighted default) and a DestinationRule with 3 subsets.

(a) ``translate``: ``build_snapshot``; a full generation for one proxy (``generate``, cold,
    nothing shared) and the amortized time per proxy of 100 proxies through one ``Translator``
    made the way the control plane makes it (``control_plane.generator_for``, with the control
    plane's translation cache: empty for the first snapshot, warm from the previous snapshot
    for a snapshot after a one-weight change). Baseline: 100 services.
(b) ``push``: from the store change (``ConfigStore.apply`` of one VirtualService whose weights
    changed; the store persists to a file as the control plane's does) until every one of 100
    proxies ACKed the new generation (``AdsServer.wait_synced``): an in-process ``AdsServer``
    on grpc.aio, a few real Envoys and simulated delta-ADS clients in a child process, wired
    as ``runtime/control_plane.py`` wires them (store listener -> ``generator_for`` ->
    ``config_changed``; 100 ms debounce included). Baseline, interleaved: a no-op change (a
    DestinationRule for a host no service has: the store and snapshot change, no proxy's
    config does), and an identical re-apply of that rule (the store says ``unchanged``: it
    must not push nor bump the revision; timed from ``apply`` to its return). The control
    plane's ``settle_heap`` (``gc.freeze``) runs after each store change unless ``--gc off``;
    full collections during the changes are counted and timed.

Targets (issue 3): <= 20 ms per proxy for a full generation; a weight change reaching 100
proxies in <= 1 s end to end.

Run: ``.venv/bin/python benchmarks/translation_cost.py [all|translate|push]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _mesh import (
    GcPauses,
    ads_server,
    cpu_seconds,
    envoy_pids,
    envoy_rss,
    median_ms,
    node_of,
    proxy_bootstrap,
    rss_mb,
    service_and_pod_yaml,
    start_envoys,
    start_simulated,
    until_connected,
)

from mainsail.ads.server import AdsServer, Generator
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.runtime.control_plane import generator_for, validate_config
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.sources.store import ConfigStore
from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_network
from mainsail.xds.generate import generate
from mainsail.xds.resources import ProxyConfig
from mainsail.xds.translation_cache import TranslationCache

FULL_TARGET_MS = 20.0
PUSH_TARGET_S = 1.0
ROUTES = 10


def virtual_service_yaml(i: int, services: int, variant: int = 0) -> str:
    """svc-<i>'s 10 routes; ``variant`` moves 10 points of weight in the last (default) one."""
    host = f"svc-{i}"
    other = f"svc-{(i + 1) % services}"
    v1 = 90 - 10 * variant
    routes = [
        f"  - match: [{{headers: {{end-user: {{exact: user-{i}}}}}}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v2}}}}]\n",
        f"  - match: [{{uri: {{prefix: /api/v2/}}}}, {{uri: {{prefix: /v2/}}}}]\n"
        f"    route:\n    - {{destination: {{host: {host}, subset: v2}}, weight: 75}}\n"
        f"    - {{destination: {{host: {host}, subset: v3}}, weight: 25}}\n",
        f"  - match: [{{uri: {{exact: /health}}, method: {{exact: GET}}}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v1}}}}]\n",
        f"  - match: [{{uri: {{regex: '/items/[0-9]+'}}}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v3}}}}]\n"
        f"    timeout: 3s\n",
        f"  - match: [{{queryParams: {{canary: {{exact: 'true'}}}}}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v3}}}}]\n",
        f"  - match: [{{headers: {{x-tenant: {{prefix: team-}}}}}}]\n"
        f"    route:\n    - {{destination: {{host: {host}, subset: v1}}, weight: 50}}\n"
        f"    - {{destination: {{host: {host}, subset: v2}}, weight: 50}}\n"
        f"    retries: {{attempts: 3, perTryTimeout: 1s, retryOn: '5xx,reset'}}\n",
        f"  - match: [{{uri: {{prefix: /static/}}, ignoreUriCase: true}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v1}}}}]\n"
        f"    headers: {{response: {{set: {{cache-control: max-age=60}}}}}}\n",
        f"  - match: [{{method: {{exact: POST}}, uri: {{prefix: /orders}}}}]\n"
        f"    route: [{{destination: {{host: {host}, subset: v2}}}}]\n"
        f"    timeout: 10s\n",
        f"  - match: [{{uri: {{prefix: /proxy/}}}}]\n"
        f"    rewrite: {{uri: /}}\n"
        f"    route: [{{destination: {{host: {other}}}}}]\n",
        f"  - route:\n    - {{destination: {{host: {host}, subset: v1}}, weight: {v1}}}\n"
        f"    - {{destination: {{host: {host}, subset: v2}}, weight: {100 - v1}}}\n",
    ]
    assert len(routes) == ROUTES
    return (
        f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: {host}, namespace: default}}\n"
        f"spec:\n  hosts: [{host}]\n  http:\n" + "".join(routes)
    )


def destination_rule_yaml(i: int) -> str:
    return (
        f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: svc-{i}, namespace: default}}\n"
        f"spec:\n  host: svc-{i}\n"
        f"  trafficPolicy: {{connectionPool: {{http: {{http1MaxPendingRequests: 100}}}}}}\n"
        f"  subsets:\n"
        f"  - {{name: v1, labels: {{version: v1}}}}\n"
        f"  - {{name: v2, labels: {{version: v2}}}}\n"
        f"  - name: v3\n    labels: {{version: v3}}\n"
        f"    trafficPolicy: {{loadBalancer: {{simple: LEAST_REQUEST}}}}\n"
    )


def noop_rule_yaml(variant: int) -> str:
    """A DestinationRule for a host no service has: it changes the store, not any config."""
    return (
        f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: no-such-host, namespace: default}}\n"
        f"spec:\n  host: no-such-host\n"
        f"  trafficPolicy: {{connectionPool: {{tcp: {{maxConnections: {100 + variant}}}}}}}\n"
    )


def mesh_yaml(services: int, network_prefix: str) -> str:
    docs: list[str] = []
    for i in range(services):
        docs += service_and_pod_yaml(network_prefix, i, {"version": f"v{i % 3 + 1}"})
        docs.append(virtual_service_yaml(i, services))
        docs.append(destination_rule_yaml(i))
    return "---\n".join(docs)


def new_store(services: int, network_prefix: str, path: Path | None = None) -> ConfigStore:
    store = ConfigStore(path, validator=validate_config)
    store.apply(parse_documents(mesh_yaml(services, network_prefix)))
    return store


# --- (a) translation


def translate(services: Sequence[int], network_prefix: str, proxies: int) -> None:
    print(f"translation: {proxies} proxies; {ROUTES} routes and 3 subsets per service")
    nodes = [node_of(proxy_bootstrap(network_prefix, i, 1)) for i in range(proxies)]
    full: dict[int, float] = {}
    amortized = 0.0
    for count in services:
        store = new_store(count, network_prefix)
        mesh = MeshConfig()
        built: list[float] = []
        for _ in range(3):
            start = time.perf_counter()
            snapshot = build_snapshot(store.objects(), mesh)
            built.append(time.perf_counter() - start)
        cold: list[float] = []
        for node in nodes[:5]:
            start = time.perf_counter()
            generate(snapshot, node)
            cold.append(time.perf_counter() - start)
        full[count] = median_ms(cold)
        cache = TranslationCache()
        first = _all_proxies(store, mesh, nodes, cache)
        store.apply(parse_documents(virtual_service_yaml(0, count, variant=1)))
        after_change = _all_proxies(store, mesh, nodes, cache)
        amortized = first * 1000 / proxies
        resources = sum(len(r) for r in generate(snapshot, nodes[0]).resources.values())
        print(
            f"  {count:5d} services ({resources} resources per proxy):"
            f" build_snapshot {median_ms(built):5.0f} ms;"
            f" full generation, one proxy {full[count]:6.1f} ms;"
            f" {proxies} proxies through one Translator: {first * 1000 / proxies:5.1f} ms"
            f" per proxy (first snapshot), {after_change * 1000 / proxies:5.1f} ms per proxy"
            f" (after one weight change, cache warm)"
        )
    if len(services) > 1:
        small, big = min(services), max(services)
        print(f"  full generation {big}/{small} services: {full[big] / full[small]:.1f}x")
    single = "met" if full[max(services)] <= FULL_TARGET_MS else "NOT met"
    shared = "met" if amortized <= FULL_TARGET_MS else "NOT met"
    print(
        f"  target <= {FULL_TARGET_MS:.0f} ms per proxy: cold single proxy {single};"
        f" amortized over {proxies} proxies (first snapshot) {shared}"
    )


def _all_proxies(
    store: ConfigStore, mesh: MeshConfig, nodes: Sequence[ProxyNode], cache: TranslationCache
) -> float:
    """Seconds to build the snapshot and generate every proxy's config, as a push does."""
    start = time.perf_counter()
    generator = generator_for(store, mesh, cache)
    for node in nodes:
        generator(node)
    return time.perf_counter() - start


# --- (b) an incremental push, end to end


async def push(args: argparse.Namespace, network_prefix: str, workdir: Path) -> None:
    print(
        f"push: {args.services} services, {args.proxies} proxies ({args.envoys} real Envoys);"
        f" {args.changes} weight changes interleaved with {args.changes} no-op changes"
    )
    started = time.perf_counter()
    store = new_store(args.services, network_prefix, workdir / "store.yaml")
    print(f"  store with {len(store.objects())} objects in {time.perf_counter() - started:.1f} s")
    mesh = MeshConfig()
    cache = TranslationCache()
    envoys: list[EnvoyProcess] = []
    simulated: subprocess.Popen[bytes] | None = None
    pauses = GcPauses()
    settled: list[float] = []

    def settle() -> None:
        if args.gc == "freeze":
            # Imported here: ``--gc off`` runs against trees that predate it (PYTHONPATH).
            from mainsail.runtime.control_plane import settle_heap

            started = time.perf_counter()
            pauses.explicit = True
            settle_heap()
            pauses.explicit = False
            settled.append(time.perf_counter() - started)

    chain = _snapshot_chain()

    def generated() -> Generator:
        if chain is None:  # a tree before ``SnapshotChain`` (PYTHONPATH): every build whole
            return generator_for(store, mesh, cache)
        return generator_for(store, mesh, cache, None, chain)

    def store_changed() -> None:
        # What ``run_control_plane`` does on every store change.
        ads.config_changed(_timed(generated()))
        settle()

    # As the control plane: the heap is also settled once the xDS server goes idle (the first
    # connections' heap), and the changes start after that, as a user's would, seconds later.
    went_idle = asyncio.Event()

    def idle() -> None:
        settle()
        went_idle.set()

    async with ads_server(generated(), idle if args.gc == "freeze" else None) as (ads, port):
        store.on_change(store_changed)
        settle()
        try:
            connect = time.perf_counter()
            envoys = await start_envoys(network_prefix, args.envoys, port, workdir)
            simulated = start_simulated(
                network_prefix, args.envoys, args.proxies - args.envoys, port
            )
            await until_connected(ads, args.proxies, timeout=600)
            await ads.wait_synced(timeout=600)
            print(
                f"  {args.proxies} proxies connected and synced in"
                f" {time.perf_counter() - connect:.1f} s; control-plane RSS {rss_mb():.0f} MB"
            )
            if args.gc == "freeze":
                await asyncio.wait_for(went_idle.wait(), timeout=60)
            weight: list[float] = []
            noop: list[float] = []
            weight_pushed: list[float] = []
            noop_pushed: list[float] = []
            weight_cpu: list[float] = []
            noop_cpu: list[float] = []
            # The proxies' side of a weight change, on this shared machine: the simulated
            # clients' process and the real Envoys (each has its own CPU in a real mesh).
            proxy_pids = {"simulated": [simulated.pid], "envoys": envoy_pids(envoys)}
            proxy_cpu: dict[str, list[float]] = {name: [] for name in proxy_pids}
            identical: list[float] = []
            pauses.take()
            profile = cProfile.Profile() if args.profile else None
            if profile is not None:
                profile.enable()
            assembled: list[float] = []
            for n in range(args.changes):
                variant = (n + 1) % 2
                before = _assembled_bytes()
                proxies_before = {k: sum(map(cpu_seconds, v)) for k, v in proxy_pids.items()}
                sent, acked, cpu = await _change(
                    ads, store, virtual_service_yaml(0, args.services, variant)
                )
                assembled.append(_assembled_bytes() - before)
                for name, pids in proxy_pids.items():
                    # Read after the 0.2 s quiet: anything a proxy still did then is counted.
                    proxy_cpu[name].append(sum(map(cpu_seconds, pids)) - proxies_before[name])
                weight_pushed.append(sent)
                weight.append(acked)
                weight_cpu.append(cpu)
                sent, acked, cpu = await _change(ads, store, noop_rule_yaml(n))
                noop_pushed.append(sent)
                noop.append(acked)
                noop_cpu.append(cpu)
                identical.append(await _identical(ads, store, noop_rule_yaml(n)))
                print(
                    f"  change {n + 1}: weight change {weight[-1] * 1000:.0f} ms"
                    f" (last proxy translated after {weight_pushed[-1] * 1000:.0f} ms;"
                    f" control-plane CPU {weight_cpu[-1] * 1000:.0f} ms),"
                    f" no-op change {noop[-1] * 1000:.0f} ms"
                    f" (last proxy translated after {noop_pushed[-1] * 1000:.0f} ms;"
                    f" CPU {noop_cpu[-1] * 1000:.0f} ms)",
                    flush=True,
                )
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            w, o = median_ms(weight), median_ms(noop)
            verdict = "met" if max(weight) <= PUSH_TARGET_S else "NOT met"
            print(
                f"  weight change -> {args.proxies} proxies ACKed: median {w:.0f} ms,"
                f" max {max(weight) * 1000:.0f} ms; no-op change: median {o:.0f} ms"
                f" (weight/no-op {w / o:.2f}); target <= {PUSH_TARGET_S * 1000:.0f} ms: {verdict}"
            )
            print(
                f"  control plane's part (store change -> last proxy translated): weight change"
                f" median {median_ms(weight_pushed):.0f} ms, no-op change median"
                f" {median_ms(noop_pushed):.0f} ms; control-plane CPU per change: weight"
                f" {median_ms(weight_cpu):.0f} ms, no-op {median_ms(noop_cpu):.0f} ms (medians)"
            )
            print(
                "  the proxies' CPU per weight change (medians, incl. the 0.2 s quiet after):"
                + ", ".join(
                    f" {name} {median_ms(values):.0f} ms" for name, values in proxy_cpu.items()
                )
                + f" ({len(proxy_pids['envoys'])} Envoys,"
                f" {args.proxies - args.envoys} simulated clients in one process)"
            )
            if _assembled_bytes() >= 0:
                print(
                    f"  response bytes assembled per weight change (shared responses once):"
                    f" median {statistics.median(assembled) / 1e6:.1f} MB"
                )
            full = pauses.take()
            print(
                f"  identical re-apply (store outcome unchanged, no push): median"
                f" {median_ms(identical):.1f} ms, max {max(identical) * 1000:.1f} ms;"
                f" full GCs during the changes ({args.gc}): {len(full)},"
                f" {sum(full) * 1000:.0f} ms in all, longest {max(full, default=0) * 1000:.0f} ms"
                + (
                    f" (settle_heap after each change, in the debounce: median"
                    f" {median_ms(settled[-2 * args.changes :]):.0f} ms)"
                    if settled
                    else ""
                )
            )
            print(
                f"  control-plane RSS {rss_mb():.0f} MB;"
                f" real Envoy RSS {statistics.median(envoy_rss(envoys)):.0f} MB median"
            )
        finally:
            if simulated is not None:
                simulated.terminate()
                simulated.wait(10)
            for envoy in envoys:
                await envoy.stop()


async def _change(ads: AdsServer, store: ConfigStore, text: str) -> tuple[float, float, float]:
    """Seconds from the store change until the last proxy's config was translated (the control
    plane's part, before the wire and the proxies) and until every proxy
    ACKed it (the push's end to end), and the CPU seconds this process (the control plane; the
    proxies are other processes) spent meanwhile: on a shared machine the wall times swing
    with the load, the CPU time much less."""
    generation = ads.generation
    cpu = time.process_time()
    start = time.perf_counter()
    store.apply(parse_documents(text))
    while ads.generation == generation:  # the debounce has not fired yet
        await asyncio.sleep(0.001)
    await ads.wait_synced(timeout=600)
    elapsed = time.perf_counter() - start
    used = time.process_time() - cpu
    pushed_after = _translated[0] - start
    await asyncio.sleep(0.2)  # quiet between changes
    return pushed_after, elapsed, used


async def _identical(ads: AdsServer, store: ConfigStore, text: str) -> float:
    """Seconds to re-apply an object exactly as stored; it must be no change: no new
    generation (no push) and the same store revision."""
    generation, revision = ads.generation, store.revision
    parsed = parse_documents(text)
    start = time.perf_counter()
    outcomes = [c.outcome for c in store.apply(parsed)]
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.3)  # past the debounce: a push would have started
    if outcomes != ["unchanged"] or ads.generation != generation or store.revision != revision:
        raise SystemExit(f"identical re-apply was a change: {outcomes}, generation moved")
    return elapsed


# When the control plane last translated a proxy's config: a push translates, stages and queues
# each proxy in turn, so the last translation is (to the staging of one proxy) when every proxy
# was pushed. Read cheaply: polling proxy_status() would load the loop being measured.
_translated = [0.0]


def _assembled_bytes() -> int:
    """``ads.encoding.assembled_bytes()``, or -1 in a tree before it."""
    from mainsail.ads import encoding

    counter = getattr(encoding, "assembled_bytes", None)
    return -1 if counter is None else int(counter())


def _snapshot_chain() -> Any:
    """The control plane's chain of snapshots (incremental rebuilds), where the tree has it."""
    try:
        from mainsail.runtime.control_plane import SnapshotChain
    except ImportError:
        return None
    return SnapshotChain()


def _timed(generator: Generator) -> Generator:
    def timed(node: ProxyNode) -> ProxyConfig:
        config = generator(node)
        _translated[0] = time.perf_counter()
        return config

    return timed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", default="all", choices=("all", "translate", "push"))
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--baseline-services", type=int, default=100)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--envoys", type=int, default=3, help="real Envoys among the proxies")
    parser.add_argument("--changes", type=int, default=5, help="of each kind")
    parser.add_argument(
        "--profile", metavar="FILE", help="push: cProfile the changes only (pstats file)"
    )
    parser.add_argument(
        "--gc",
        choices=("freeze", "off"),
        default="freeze",
        help="push: settle the heap after each store change as the control plane does"
        " (gc.freeze), or leave Python's collector alone (off)",
    )
    args = parser.parse_args(argv)
    prefix = random_loopback_network(16).rsplit(".", 2)[0]
    if args.part in ("all", "translate"):
        translate((args.baseline_services, args.services), prefix, args.proxies)
    if args.part in ("all", "push"):
        with tempfile.TemporaryDirectory(prefix="mainsail-translation-") as tmp:
            asyncio.run(push(args, prefix, Path(tmp)))


if __name__ == "__main__":
    main()
