"""mTLS cost: one mesh hop (client sidecar -> server sidecar) over ISTIO_MUTUAL against the same
hop in plaintext, latency and CPU, in one run.

One nginx pod (1 KB body for every request) is selected by two Services on the same port:
``mtls-upstream`` (auto mTLS: the pod has a sidecar, so the client's sidecar speaks ISTIO_MUTUAL
to it, the server's PERMISSIVE inbound terminates it) and ``plain-upstream`` (a DestinationRule
``tls: DISABLE``: plaintext to the same inbound port, its ``raw_buffer`` chain). Both paths go
through the very same two Envoys to the very same nginx; only the transport differs.

``wrk`` sends ~1000 req/s over 16 kept-alive connections (as ``hop_cost.py``): the TLS
handshakes happen once per upstream connection, so this measures the steady-state cost of
encrypting, not of handshaking. The two paths (and ``direct``, wrk -> nginx, for reference)
are measured in interleaved rounds; ratios are taken per round and their median reported.
CPU is read from ``/proc`` for each sidecar around each run.

Sequential rounds on a shared 2-core machine swing by +-10 % from one 10 s run to the next,
more than the effect measured. So the latency ratio is also measured *paired*: in each paired
round the two paths run at the same time (two wrk processes, 8 connections each, ~500 req/s
each: the same ~1000 req/s on the two sidecars as a sequential run), so both see the very same
machine; the per-round p50 ratios of those runs are the headline figure. CPU can only be split
between the paths in the sequential runs (the paired runs share the processes).

Run: ``.venv/bin/python benchmarks/mtls_cost.py`` (needs ``wrk`` and ``nginx``: ``apt-get
install wrk nginx-light``). Target: mTLS / plaintext <= 1.05 at p50.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hop_cost import (
    _NGINX_LAUNCHER,
    BODY_BYTES,
    CONNECTIONS,
    Path_,
    Run,
    cpu_seconds,
    envoy_concurrency,
    process_pids,
    sidecar_pid,
    wait_serving,
)

from mainsail.testing.mesh import LocalMesh

PORT = 8080
# ``--telemetry off``: no metrics, no tracing, to see what of the mTLS cost is telemetry's
# (principals read from the peer certificate by the stats loggers).
_MESH_CONFIGS: dict[str, dict[str, Any] | None] = {
    "on": None,
    "off": {"defaultProviders": {"metrics": ["none"]}, "enableTracing": False},
}
TARGET_RATIO = 1.05

_MESH_YAML = """\
apiVersion: v1
kind: Service
metadata: {{name: mtls-upstream}}
spec:
  ports: [{{port: {port}, name: http}}]
  selector: {{app: mtls-bench}}
---
apiVersion: v1
kind: Service
metadata: {{name: plain-upstream}}
spec:
  ports: [{{port: {port}, name: http}}]
  selector: {{app: mtls-bench}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: plain-upstream}}
spec:
  host: plain-upstream
  trafficPolicy:
    tls: {{mode: DISABLE}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: mtls-bench}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: mtls-bench}}}}
  template:
    metadata: {{labels: {{app: mtls-bench}}}}
    spec:
      containers:
      - name: nginx
        command: ["{launcher}"]
        ports: [{{containerPort: {port}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: bench-client}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: bench-client}}}}
  template:
    metadata: {{labels: {{app: bench-client}}}}
    spec:
      containers:
      - name: idle
        command: ["sleep", "infinity"]
"""

# As hop_cost.py: each connection waits a random 14-17 ms after every response (~1000 req/s).
_WRK_SCRIPT = """\
wrk.path = "{path}"
wrk.headers["Host"] = "{host}"
function delay() return math.random(14, 17) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


async def run_wrk(
    path: Path_, host: str, seconds: float, script_dir: Path, connections: int = CONNECTIONS
) -> Run:
    script = script_dir / f"{path.name}.lua"
    script.write_text(_WRK_SCRIPT.format(path=path.request_path, host=host))
    before = {name: cpu_seconds(pids) for name, pids in path.watched.items()}
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), path.url,
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
        requests=requests,
        seconds=micros / 1e6,
        p50_us=p50,
        p90_us=p90,
        p99_us=p99,
        errors=errors,
        cpu_seconds={name: after[name] - before[name] for name in before},
    )


def _ms(micros: float) -> str:
    return f"{micros / 1000:6.3f}"


def _print_ratios(rounds: Sequence[dict[str, Run]]) -> None:
    """mTLS / plaintext at p50, p90, p99: the median of per-round ratios, and the rounds."""
    for q in ("p50_us", "p90_us", "p99_us"):
        ratios = [getattr(r["mtls"], q) / getattr(r["plaintext"], q) for r in rounds]
        median = statistics.median(ratios)
        verdict = ("  met" if median <= TARGET_RATIO else "  NOT met") if q == "p50_us" else ""
        shown = " ".join(f"{x:.3f}" for x in ratios)
        print(f"  {q[:3]}: {median:.3f}  (rounds: {shown}){verdict}")


def report(rounds: Sequence[dict[str, Run]], concurrency: int) -> None:
    names = list(rounds[0])
    print(f"\n{len(rounds)} interleaved rounds; Envoy --concurrency {concurrency}; medians")
    print(f"{'path':<10} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for name in names:
        runs = [r[name] for r in rounds]
        print(
            f"{name:<10} {statistics.median(r.rate for r in runs):7.0f}"
            f" {_ms(statistics.median(r.p50_us for r in runs))}"
            f" {_ms(statistics.median(r.p90_us for r in runs))}"
            f" {_ms(statistics.median(r.p99_us for r in runs))}"
            f" {sum(r.errors for r in runs):6d}"
        )
    print(f"\nmTLS / plaintext (median of per-round ratios; target <= {TARGET_RATIO} at p50):")
    _print_ratios(rounds)
    print("\nCPU per 1000 req/s, vCPU (sequential runs; median over rounds):")
    for name in ("plaintext", "mtls"):
        for proc in rounds[0][name].cpu_seconds:
            value = statistics.median(r[name].vcpu_per_1000(proc) for r in rounds)
            print(f"  {name:<9} {proc:<16} {value:.3f}")
    for proc in rounds[0]["mtls"].cpu_seconds:
        ratios = [
            r["mtls"].vcpu_per_1000(proc) / r["plaintext"].vcpu_per_1000(proc) for r in rounds
        ]
        print(f"  mTLS / plaintext {proc}: {statistics.median(ratios):.3f}")


async def run_paired(
    paths: dict[str, tuple[Path_, str]], seconds: float, workdir: Path
) -> dict[str, Run]:
    """The plaintext and mTLS paths at the same time, half the connections each."""
    names = ("plaintext", "mtls")
    runs = await asyncio.gather(
        *(
            run_wrk(
                Path_(
                    name=f"paired-{name}",
                    url=paths[name][0].url,
                    request_path=paths[name][0].request_path,
                    watched={},
                ),
                f"{paths[name][1]}:{PORT}",
                seconds,
                workdir,
                connections=CONNECTIONS // 2,
            )
            for name in names
        )
    )
    return dict(zip(names, runs, strict=True))


def report_paired(rounds: Sequence[dict[str, Run]]) -> None:
    print(
        f"\nPaired: both paths at once ({CONNECTIONS // 2} connections each), {len(rounds)} rounds;"
        " medians"
    )
    for name in ("plaintext", "mtls"):
        runs = [r[name] for r in rounds]
        print(
            f"  {name:<10} {statistics.median(r.rate for r in runs):6.0f} req/s"
            f"  p50 {_ms(statistics.median(r.p50_us for r in runs))}"
            f"  p90 {_ms(statistics.median(r.p90_us for r in runs))}"
            f"  p99 {_ms(statistics.median(r.p99_us for r in runs))} ms"
            f"  errors {sum(r.errors for r in runs)}"
        )
    print(
        f"mTLS / plaintext, paired (median of per-round ratios; target <= {TARGET_RATIO} at p50):"
    )
    _print_ratios(rounds)


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None or shutil.which("wrk") is None:
        sys.exit("needs wrk and nginx: apt-get install wrk nginx-light")
    launcher = workdir / "serve-1kb.sh"
    launcher.write_text(
        _NGINX_LAUNCHER.format(body="x" * BODY_BYTES, nginx=nginx, directory=workdir / "nginx")
    )
    launcher.chmod(0o755)
    mesh_file = workdir / "mtls.yaml"
    mesh_file.write_text(_MESH_YAML.format(port=PORT, launcher=launcher))
    mesh = LocalMesh([mesh_file], workdir / "mesh", mesh_config=_MESH_CONFIGS[args.telemetry])
    try:
        await asyncio.to_thread(mesh.start)
        server_pod = mesh.pod("mtls-bench")
        client_pod = mesh.pod("bench-client")
        app = (server_pod.ip, server_pod.app_ports[PORT])
        sidecars = {
            "client sidecar": (sidecar_pid(mesh, client_pod),),
            "server sidecar": (sidecar_pid(mesh, server_pod),),
        }
        concurrency = envoy_concurrency(sidecars["client sidecar"][0])
        upstream = tuple(process_pids(str(workdir / "nginx")))
        proxy_url = f"http://{client_pod.ip}:{client_pod.proxy_ports.outbound}"
        paths = {
            "direct": (
                Path_(name="direct", url=f"http://{app[0]}:{app[1]}", request_path="/", watched={}),
                "mtls-upstream",
            ),
            "plaintext": (
                Path_(
                    name="plaintext",
                    url=proxy_url,
                    request_path=f"http://plain-upstream:{PORT}/",
                    watched=dict(sidecars),
                ),
                "plain-upstream",
            ),
            "mtls": (
                Path_(
                    name="mtls",
                    url=proxy_url,
                    request_path=f"http://mtls-upstream:{PORT}/",
                    watched=dict(sidecars),
                ),
                "mtls-upstream",
            ),
        }
        for path, _ in paths.values():
            path.watched["nginx"] = upstream
        await wait_serving(f"http://{app[0]}:{app[1]}/")
        for service in ("plain-upstream", "mtls-upstream"):
            await wait_serving(f"http://{service}:{PORT}/", proxy=proxy_url)
        print(f"upstream nginx at {app[0]}:{app[1]}; wrk -t1 -c{CONNECTIONS}, ~1000 req/s")
        rounds: list[dict[str, Run]] = []
        for n in range(args.rounds):
            results: dict[str, Run] = {}
            order = list(paths.values()) if n % 2 == 0 else list(paths.values())[::-1]
            for path, host in order:
                await run_wrk(path, f"{host}:{PORT}", args.warmup, workdir)
                run = await run_wrk(path, f"{host}:{PORT}", args.seconds, workdir)
                results[path.name] = run
                print(
                    f"round {n + 1} {path.name:<9} {run.rate:6.0f} req/s  p50 {_ms(run.p50_us)}"
                    f"  p90 {_ms(run.p90_us)}  p99 {_ms(run.p99_us)} ms  errors {run.errors}",
                    flush=True,
                )
            rounds.append({name: results[name] for name in paths})
        report(rounds, concurrency)
        paired: list[dict[str, Run]] = []
        for n in range(args.paired_rounds):
            await run_paired(paths, args.warmup, workdir)
            runs = await run_paired(paths, args.seconds, workdir)
            paired.append(runs)
            print(
                f"paired round {n + 1}: "
                + "  ".join(
                    f"{name} p50 {_ms(run.p50_us)} p99 {_ms(run.p99_us)} ms"
                    for name, run in runs.items()
                ),
                flush=True,
            )
        if paired:
            report_paired(paired)
        print("\nTLS handshakes the client sidecar counted per cluster (mTLS > 0, plaintext 0):")
        for service in ("mtls-upstream", "plain-upstream"):
            stat = f"cluster.outbound|{PORT}||{service}.default.svc.cluster.local;.ssl.handshake"
            text = str(mesh.admin(client_pod, f"/stats?filter=^{re.escape(stat)}$"))
            print(f"  {service}: {text.strip() or stat + ': 0'}")
    finally:
        await asyncio.to_thread(mesh.stop)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paired-rounds", type=int, default=9)
    parser.add_argument(
        "--telemetry", choices=tuple(_MESH_CONFIGS), default="on", help="Istio's default: on"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured run before each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-mtls-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
