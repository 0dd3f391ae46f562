"""Telemetry cost: Istio's standard metrics + a JSON access log + 1 % tracing against all off.

Identical meshes from ``hop_cost``'s files (a client pod, a server pod whose app is nginx
answering 1 KB), started by a real ``mainsail up`` each, in one invocation:

(on)      MeshConfig ``accessLogFile: /dev/stdout`` (the pod's own file), ``accessLogEncoding:
          JSON``; metrics on (Istio's default): peer exchange filters, stats access loggers; 1 %
          tracing (Istio's default sampling) to the control plane's built-in Zipkin collector
(off)     ``defaultProviders.metrics: [none]``, ``enableTracing: false`` and no access log: no
          telemetry at all

and, with ``--variants``, one part of ``on`` at a time, to split its cost:

(metrics) metrics only (peer exchange filters + stats access loggers)
(peer)    the peer exchange filters only: metrics on, but a Telemetry resource disables each of
          the four HTTP metrics, so no stats logger is left
(log)     the JSON access log only
(tracing) 1 % tracing only

and, with ``--without COMMIT``, ``before``: ``on`` with the mesh running a copy of this tree's
``src/`` with ``COMMIT`` reverted (put first on the mesh processes' ``PYTHONPATH``), so an
optimisation is measured before and after in the same invocation, all else equal.

``wrk`` drives each path (client sidecar's HTTP-proxy listener -> server sidecar -> nginx) in
interleaved rounds: a fixed load of ~1000 req/s (16 connections, one request per ~16 ms) for
p50/p99, and an unthrottled run for throughput (16 connections, no pause). Ratios are per round;
medians are reported. Then (``--paired-rounds``, default 7) ``off`` and ``on`` paced at the
same time, 8 connections each (~500 req/s each), for a p50 ratio both meshes measured on the very
same machine (sequential runs swing +-10 %). Targets: <= 10 % throughput loss, <= 10 % p50
increase.

Then (``--bookinfo``, default on) the series count per sidecar: BookInfo's demo mesh after 200
requests through the gateway, the number of ``istio_*`` sample lines each pod's ``:15090``
serves, and how many ``istio_requests_total`` series there are.

Run: ``.venv/bin/python benchmarks/telemetry_cost.py`` (needs ``wrk`` and ``nginx``: ``apt-get
install wrk nginx-light``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _floor import paired_p50
from hop_cost import (
    CONNECTIONS,
    SERVICE,
    SERVICE_PORT,
    Path_,
    Run,
    _ms,
    cpu_seconds,
    envoy_concurrency,
    run_wrk,
    sidecar_pid,
    wait_serving,
    write_mesh_files,
)
from mtls_cost import _WRK_SCRIPT

from mainsail.cli.mesh import demo_files
from mainsail.testing.mesh import LocalMesh, http_get

TARGET = 1.10
_LOG = {"accessLogFile": "/dev/stdout", "accessLogEncoding": "JSON"}
_NO_METRICS = {"defaultProviders": {"metrics": ["none"]}}
_NO_TRACING = {"enableTracing": False}
MESH_CONFIGS: dict[str, dict[str, Any]] = {
    "off": {**_NO_METRICS, **_NO_TRACING},
    "on": _LOG,
    "metrics": _NO_TRACING,
    "peer": _NO_TRACING,
    "log": {**_LOG, **_NO_METRICS, **_NO_TRACING},
    "tracing": _NO_METRICS,
}
# ``peer``: the stats loggers go (each HTTP metric disabled on its own: ``ALL_METRICS`` disabled
# would drop the provider, and the peer exchange filters with it).
_NO_HTTP_METRICS = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: no-http-metrics, namespace: istio-system}
spec:
  metrics:
  - overrides:
""" + "".join(
    f"    - match: {{metric: {metric}}}\n      disabled: true\n"
    for metric in ("REQUEST_COUNT", "REQUEST_DURATION", "REQUEST_SIZE", "RESPONSE_SIZE")
)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Unthrottled: every connection sends its next request as soon as the answer is in.
_WRK_FLAT_OUT = """\
wrk.path = "{path}"
wrk.headers["Host"] = "{host}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    name: str
    mesh: LocalMesh
    path: Path_


def source_without(commit: str, workdir: Path) -> Path:
    """A copy of this tree's ``src/`` with ``commit``'s changes to it reverted (``git show``,
    ``patch -R``): the code as it would be without that commit, everything else equal."""
    repo = Path(__file__).resolve().parent.parent
    target = workdir / f"src-without-{commit}"
    shutil.copytree(repo / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__"))
    diff = subprocess.run(
        ["git", "-C", str(repo), "show", "--format=", commit, "--", "src"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["patch", "-R", "-p1", "-s", "-d", str(target)], input=diff, check=True)
    return target / "src"


def _start_mesh(mesh: LocalMesh, source: Path | None) -> None:
    """``mesh.start()``, its processes importing ``mainsail`` from ``source`` if given (the
    launcher, hence the control plane and agent it spawns, inherit ``PYTHONPATH``)."""
    if source is None:
        mesh.start()
        return
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(source)
    try:
        mesh.start()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


async def start(name: str, workdir: Path, source: Path | None = None) -> Setup:
    """``name``: a ``MESH_CONFIGS`` key, or ``before`` (``on`` with ``source``)."""
    directory = workdir / name
    directory.mkdir()
    files = [write_mesh_files(directory)]
    if name == "peer":
        files.append(directory / "telemetry.yaml")
        files[-1].write_text(_NO_HTTP_METRICS, encoding="utf-8")
    config = MESH_CONFIGS["on" if name == "before" else name]
    mesh = LocalMesh(files, directory / "mesh", mesh_config=config)
    await asyncio.to_thread(_start_mesh, mesh, source)
    server, client = mesh.pod(SERVICE), mesh.pod("hop-client")
    proxy_url = f"http://{client.ip}:{client.proxy_ports.outbound}"
    target = f"http://{SERVICE}:{SERVICE_PORT}/"
    await wait_serving(target, proxy=proxy_url)
    watched: dict[str, tuple[int, ...]] = {
        "client sidecar": (sidecar_pid(mesh, client),),
        "server sidecar": (sidecar_pid(mesh, server),),
    }
    return Setup(
        name=name,
        mesh=mesh,
        path=Path_(name=name, url=proxy_url, request_path=target, watched=watched),
    )


async def flat_out(path: Path_, seconds: float, workdir: Path) -> Run:
    """``run_wrk`` with the unthrottled script."""
    script = workdir / f"{path.name}-flat.lua"
    script.write_text(
        _WRK_FLAT_OUT.format(path=path.request_path, host=f"{SERVICE}:{SERVICE_PORT}")
    )
    before = {name: cpu_seconds(pids) for name, pids in path.watched.items()}
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script), path.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    after = {name: cpu_seconds(pids) for name, pids in path.watched.items()}
    text = out.decode(errors="replace")
    found = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", text, re.MULTILINE)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {path.name}:\n{text}")
    requests, micros, p50, p90, p99, errors = (int(g) for g in found.groups())
    return Run(
        requests=requests, seconds=micros / 1e6, p50_us=p50, p90_us=p90, p99_us=p99,
        errors=errors, cpu_seconds={name: after[name] - before[name] for name in before},
    )  # fmt: skip


def _verdict(ratio: float) -> str:
    return "met" if ratio <= TARGET else "NOT met"


def report(fixed: Sequence[dict[str, Run]], flat: Sequence[dict[str, Run]]) -> None:
    names = list(fixed[0])
    print(f"\n{len(fixed)} interleaved rounds, medians over rounds")
    print(
        f"{'telemetry':<10} {'fixed req/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'max req/s':>9}"
        f" {'errors':>6} {'p50/off':>7} {'p99/off':>7} {'loss':>6}"
    )
    for name in names:
        p50 = statistics.median(r[name].p50_us / r["off"].p50_us for r in fixed)
        p99 = statistics.median(r[name].p99_us / r["off"].p99_us for r in fixed)
        loss = statistics.median(1 - r[name].rate / r["off"].rate for r in flat)
        print(
            f"{name:<10} {statistics.median(r[name].rate for r in fixed):11.0f}"
            f" {_ms(statistics.median(r[name].p50_us for r in fixed))}"
            f" {_ms(statistics.median(r[name].p99_us for r in fixed))}"
            f" {statistics.median(r[name].rate for r in flat):9.0f}"
            f" {sum(r[name].errors for r in (*fixed, *flat)):6d}"
            f" {p50:7.2f} {p99:7.2f} {100 * loss:5.1f}%"
        )
    for name in [n for n in names if n in ("on", "before")]:
        p50 = statistics.median(r[name].p50_us / r["off"].p50_us for r in fixed)
        losses = [1 - r[name].rate / r["off"].rate for r in flat]
        loss = statistics.median(losses)
        shown = ", ".join(f"{100 * x:.0f} %" for x in losses)
        print(f"\n{name}: p50 on/off {p50:.2f} (target <= {TARGET:.2f}: {_verdict(p50)})")
        print(
            f"{name}: throughput loss {100 * loss:.1f} % (rounds: {shown}; target <= 10 %:"
            f" {_verdict(1 + loss)})"
        )
    print("CPU per request (fixed load), us; and vCPU per 1000 req/s:")
    for name in names:
        for proc in fixed[0][name].cpu_seconds:
            value = statistics.median(r[name].vcpu_per_1000(proc) for r in fixed)
            flat_us = statistics.median(
                1e6 * r[name].cpu_seconds[proc] / r[name].requests for r in flat
            )
            print(
                f"  {name:<8} {proc:<15} {value:.3f} vCPU per 1000 req/s;"
                f" flat out {flat_us:5.1f} us per request"
            )


def count_series(text: str) -> tuple[int, int]:
    """(``istio_*`` sample lines, ``istio_requests_total`` series)."""
    lines = [line for line in text.splitlines() if line.startswith("istio_")]
    return len(lines), sum(1 for line in lines if line.startswith("istio_requests_total{"))


async def bookinfo_series(workdir: Path) -> None:
    mesh = LocalMesh(list(demo_files()), workdir / "bookinfo")
    await asyncio.to_thread(mesh.start)
    try:
        for _ in range(200):
            await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
        await asyncio.sleep(6)  # histograms reach /stats/prometheus at Envoy's 5 s stats flush
        print("\nseries per sidecar after 200 BookInfo page loads (istio_* lines, requests_total):")
        for pod in sorted(mesh.pods(), key=lambda p: p.name):
            url = f"http://{pod.ip}:{pod.proxy_ports.prometheus}/stats/prometheus"
            with _NO_PROXY.open(url, timeout=10) as response:
                text = response.read().decode()
            lines, requests = count_series(text)
            print(f"  {pod.name:<40} {lines:6d} {requests:4d}")
    finally:
        await asyncio.to_thread(mesh.stop)


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    setups: list[Setup] = []
    try:
        for name in ("off", *args.variants):
            setups.append(await start(name, workdir))
        if args.without:
            source = source_without(args.without, workdir)
            setups.append(await start("before", workdir, source))
        concurrency = {
            envoy_concurrency(p) for s in setups for ps in s.path.watched.values() for p in ps
        }
        print(f"wrk -t1 -c{CONNECTIONS}; sidecars --concurrency {sorted(concurrency)}")
        fixed: list[dict[str, Run]] = []
        flat: list[dict[str, Run]] = []
        for n in range(args.rounds):
            # Rotate and reverse, so each mesh runs early and late in some round.
            shift = n % len(setups)
            order = setups[shift:] + setups[:shift]
            order = order if n % 2 == 0 else order[::-1]
            fixed_round: dict[str, Run] = {}
            flat_round: dict[str, Run] = {}
            for setup in order:
                await run_wrk(setup.path, args.warmup, workdir)
                fixed_round[setup.name] = run = await run_wrk(setup.path, args.seconds, workdir)
                flat_round[setup.name] = top = await flat_out(setup.path, args.seconds, workdir)
                print(
                    f"round {n + 1} {setup.name:<3} fixed {run.rate:6.0f} req/s p50 {_ms(run.p50_us)}"
                    f" p99 {_ms(run.p99_us)} ms | flat out {top.rate:6.0f} req/s",
                    flush=True,
                )
            fixed.append(fixed_round)
            flat.append(flat_round)
        for setup in setups:
            client = setup.mesh.pod("hop-client")
            log = setup.mesh.home.root / "logs" / f"{client.namespace}.{client.name}.access.log"
            if log.exists() and setup.name != "off":
                print(
                    f"\n{setup.name!r} client sidecar access log: {log.stat().st_size / 1e6:.1f} MB"
                )
        report(fixed, flat)
        if args.paired_rounds:
            await paired(setups, args, workdir)
    finally:
        for setup in setups:
            await asyncio.to_thread(setup.mesh.stop)
    if args.bookinfo:
        await bookinfo_series(workdir)


async def paired(setups: Sequence[Setup], args: argparse.Namespace, workdir: Path) -> None:
    """``off`` and ``on`` paced at the same time (8 connections each, ~500 req/s each), so
    both see the very same machine: the p50 ratio without the +-10 % swing between runs."""
    by_name = {setup.name: setup for setup in setups}
    if "on" not in by_name:
        return
    scripts = {}
    for name in ("off", "on"):
        scripts[name] = workdir / f"paired-{name}.lua"
        scripts[name].write_text(
            _WRK_SCRIPT.format(
                path=by_name[name].path.request_path, host=f"{SERVICE}:{SERVICE_PORT}"
            )
        )
    ratios: list[float] = []
    for n in range(args.paired_rounds):
        runs = [(by_name[name].path.url, scripts[name]) for name in ("off", "on")]
        off, on = await paired_p50(runs, args.seconds, args.warmup)
        ratios.append(on / off)
        print(
            f"paired round {n + 1}: off p50 {off / 1000:.3f} ms, on p50 {on / 1000:.3f} ms,"
            f" ratio {on / off:.3f}",
            flush=True,
        )
    shown = " ".join(f"{x:.3f}" for x in ratios)
    print(
        f"on / off p50, paired (median of {len(ratios)} rounds): {statistics.median(ratios):.3f}"
        f"  (rounds: {shown}; target <= {TARGET:.2f}: {_verdict(statistics.median(ratios))})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paired-rounds", type=int, default=7, help="off and on at once, paced")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured run before each")
    parser.add_argument("--no-bookinfo", dest="bookinfo", action="store_false")
    parser.add_argument(
        "--variants",
        type=lambda text: [v for v in text.split(",") if v],
        default=["on"],
        help=f"meshes measured against 'off', comma-separated, of: {', '.join(MESH_CONFIGS)}",
    )
    parser.add_argument(
        "--without",
        metavar="COMMIT",
        help="also measure 'on' as 'before': the mesh runs this tree with COMMIT reverted",
    )
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants if v not in MESH_CONFIGS or v == "off"]
    if unknown:
        parser.error(
            f"--variants: unknown {unknown}; choose from {sorted(set(MESH_CONFIGS) - {'off'})}"
        )
    with tempfile.TemporaryDirectory(prefix="mainsail-telemetry-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
