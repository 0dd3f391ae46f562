"""Hop cost: what Mainsail's two sidecars add to a request, against a hand-written Envoy floor.

Three paths to one upstream (nginx answering every request with a 1 KB body), measured with
``wrk`` at about 1000 req/s over 16 kept-alive connections:

(a) direct     wrk -> nginx
(b) mainsail   wrk -> client pod's sidecar HTTP-proxy listener (absolute-form request, as an app
               with ``HTTP_PROXY`` sends it) -> server pod's inbound listener -> nginx (the
               server pod's app), both sidecars configured by a real ``mainsail up``
(c) floor      wrk -> client Envoy -> server Envoy -> nginx, a minimal static config (one HCM
               with the router filter, one static cluster, plaintext HTTP/1.1, like (b))

Fairness: the upstream is the same nginx process in all three (the server pod's app, reached
on its private port); every Envoy runs the same binary with the same ``--concurrency`` as the
sidecars; the three paths are measured in interleaved rounds so machine noise hits all three.
Ratios are taken per round and the median of them is reported.

Run: ``.venv/bin/python benchmarks/hop_cost.py`` (needs ``wrk`` and ``nginx``: ``apt-get
install wrk nginx-light``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mainsail.platform.pod import PodSpec
from mainsail.testing.envoy_process import EnvoyProcess, envoy_binary
from mainsail.testing.loopback import free_tcp_ports, random_loopback_address
from mainsail.testing.mesh import LocalMesh

SERVICE = "hop-upstream"
SERVICE_PORT = 8080
BODY_BYTES = 1024
CONNECTIONS = 16
TARGET_RATIO = 1.10
TARGET_VCPU_PER_1000 = 0.20
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_NGINX_LAUNCHER = """#!/bin/sh
# The upstream: nginx, one worker, a 1 KB body for every request, on $INSTANCE_IP:$PORT.
set -e
dir={directory}
mkdir -p "$dir"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path $dir;
  server {{
    listen $INSTANCE_IP:$PORT;
    location / {{ default_type text/plain; return 200 "{body}"; }}
  }}
}}
CONF
exec {nginx} -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
"""

_MESH_YAML = """\
apiVersion: v1
kind: Service
metadata: {{name: {service}}}
spec:
  ports: [{{port: {port}, name: http}}]
  selector: {{app: {service}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {service}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {service}}}}}
  template:
    metadata: {{labels: {{app: {service}}}}}
    spec:
      containers:
      - name: nginx
        command: ["{launcher}"]
        ports: [{{containerPort: {port}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: hop-client}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: hop-client}}}}
  template:
    metadata: {{labels: {{app: hop-client}}}}
    spec:
      containers:
      - name: idle
        command: ["sleep", "infinity"]
"""

# wrk cannot hold a fixed rate; each connection waits a random 14-17 ms after every response,
# so 16 connections send ~1000 req/s whatever the path's latency (well below the knee).
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One wrk run: latency percentiles in microseconds, and each watched process's CPU."""

    requests: int
    seconds: float
    p50_us: int
    p90_us: int
    p99_us: int
    errors: int
    cpu_seconds: dict[str, float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def vcpu_per_1000(self, name: str) -> float:
        return self.cpu_seconds[name] / self.seconds / (self.rate / 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Path_:
    """A way to the upstream: where wrk connects and what request line it sends."""

    name: str
    url: str
    request_path: str
    watched: dict[str, tuple[int, ...]]  # name -> pids whose CPU is read around each run


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _CLOCK_TICKS


def envoy_concurrency(pid: int) -> int:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return int(argv[argv.index("--concurrency") + 1]) if "--concurrency" in argv else 0


async def run_wrk(path: Path_, seconds: float, script_dir: Path) -> Run:
    script = script_dir / f"{path.name}.lua"
    host = f"{SERVICE}:{SERVICE_PORT}"
    script.write_text(_WRK_SCRIPT.format(path=path.request_path, host=host))
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
        requests=requests,
        seconds=micros / 1e6,
        p50_us=p50,
        p90_us=p90,
        p99_us=p99,
        errors=errors,
        cpu_seconds={name: after[name] - before[name] for name in before},
    )


# --- the floor: two Envoys with a hand-written static config


def _http_listener(name: str, host: str, port: int, cluster: str) -> dict[str, Any]:
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": host, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def floor_bootstrap(name: str, host: str, port: int, upstream: tuple[str, int]) -> dict[str, Any]:
    address = {"socket_address": {"address": upstream[0], "port_value": upstream[1]}}
    return {
        "node": {"id": name, "cluster": name},
        "admin": {"address": {"socket_address": {"address": host, "port_value": 0}}},
        "static_resources": {
            "listeners": [_http_listener(name, host, port, "next")],
            "clusters": [
                {
                    "name": "next",
                    "type": "STATIC",
                    "connect_timeout": "10s",
                    "load_assignment": {
                        "cluster_name": "next",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
                    },
                }
            ],
        },
    }


# --- the Mainsail mesh


def write_mesh_files(workdir: Path) -> Path:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None or shutil.which("wrk") is None:
        sys.exit("needs wrk and nginx: apt-get install wrk nginx-light")
    launcher = workdir / "serve-1kb.sh"
    launcher.write_text(
        _NGINX_LAUNCHER.format(body="x" * BODY_BYTES, nginx=nginx, directory=workdir / "nginx")
    )
    launcher.chmod(0o755)
    mesh_file = workdir / "hop.yaml"
    mesh_file.write_text(_MESH_YAML.format(service=SERVICE, port=SERVICE_PORT, launcher=launcher))
    return mesh_file


def sidecar_pid(mesh: LocalMesh, pod: PodSpec) -> int:
    pid_file = mesh.home.root / "proxies" / pod.key / "envoy.pid"
    return int(pid_file.read_text().split()[0])


async def wait_serving(url: str, *, proxy: str | None = None, timeout: float = 30.0) -> None:
    """Until a GET (through ``proxy`` if given) returns the 1 KB body: config pushed, app up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, body = await asyncio.to_thread(_get, url, proxy)
        if status == 200 and len(body) == BODY_BYTES:
            return
        if loop.time() > deadline:
            raise RuntimeError(f"{url} via {proxy}: {status} {body[:200]!r}")
        await asyncio.sleep(0.1)


def _get(url: str, proxy: str | None) -> tuple[int, bytes]:
    handler = urllib.request.ProxyHandler({"http": proxy} if proxy else {})
    try:
        with urllib.request.build_opener(handler).open(url, timeout=2) as response:
            return int(response.status), response.read()
    except OSError as exc:  # URLError and HTTPError are OSErrors
        return 0, str(exc).encode()


def process_pids(marker: str) -> list[int]:
    """Processes whose command line contains ``marker``, and their children (nginx workers)."""
    parents: dict[int, int] = {}
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[1])
        if marker in argv:
            found.append(int(entry.name))
    return sorted(set(found) | {pid for pid, ppid in parents.items() if ppid in found})


def one_pid(marker: str) -> int:
    pids = [p for p in process_pids(marker) if marker in _cmdline(p)]
    if len(pids) != 1:
        raise LookupError(f"{len(pids)} processes run {marker}")
    return pids[0]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


# --- reporting


def _ms(micros: float) -> str:
    return f"{micros / 1000:6.3f}"


def report(rounds: Sequence[dict[str, Run]], concurrency: int) -> None:
    names = list(rounds[0])
    print(
        f"\n{len(rounds)} interleaved rounds; Envoy --concurrency {concurrency}; medians over rounds"
    )
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
    print("\nadded over direct (median of per-round differences), ms:")
    for name in names[1:]:
        for q in ("p50_us", "p90_us", "p99_us"):
            added = statistics.median(getattr(r[name], q) - getattr(r["direct"], q) for r in rounds)
            print(f"  {name:<9} {q[:3]} +{added / 1000:.3f}")
    print("\nMainsail / floor (median of per-round ratios; target <= 1.10 at p50 and p90):")
    for q in ("p50_us", "p90_us", "p99_us"):
        ratios = [getattr(r["mainsail"], q) / getattr(r["floor"], q) for r in rounds]
        verdict = (
            ""
            if q == "p99_us"
            else ("  met" if statistics.median(ratios) <= TARGET_RATIO else "  NOT met")
        )
        shown = " ".join(f"{x:.2f}" for x in ratios)
        print(f"  {q[:3]}: {statistics.median(ratios):.2f}  (rounds: {shown}){verdict}")
    print("\nCPU per 1000 req/s, vCPU (median over rounds; target <= 0.20 per Mainsail sidecar):")
    for name in names:
        for proc in rounds[0][name].cpu_seconds:
            value = statistics.median(r[name].vcpu_per_1000(proc) for r in rounds)
            target = ""
            if proc.endswith("sidecar"):
                target = "  met" if value <= TARGET_VCPU_PER_1000 else "  NOT met"
            print(f"  {name:<9} {proc:<16} {value:.3f}{target}")


# --- main


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    mesh_file = write_mesh_files(workdir)
    mesh = LocalMesh([mesh_file], workdir / "mesh")
    floor: list[EnvoyProcess] = []
    try:
        await asyncio.to_thread(mesh.start)
        server_pod = mesh.pod(SERVICE)
        client_pod = mesh.pod("hop-client")
        app = (server_pod.ip, server_pod.app_ports[SERVICE_PORT])
        server_sidecar, client_sidecar = (
            sidecar_pid(mesh, server_pod),
            sidecar_pid(mesh, client_pod),
        )
        concurrency = envoy_concurrency(client_sidecar)
        if concurrency != envoy_concurrency(server_sidecar) or concurrency < 1:
            raise RuntimeError("the two sidecars run with different --concurrency")
        nginx = tuple(process_pids(str(workdir / "nginx")))

        host = random_loopback_address()
        client_port, server_port = free_tcp_ports(host, 2)
        envoy_args = ["--concurrency", str(concurrency)]
        server_envoy = EnvoyProcess(
            floor_bootstrap("floor-server", host, server_port, app),
            workdir / "floor-server",
            extra_args=envoy_args,
        )
        client_envoy = EnvoyProcess(
            floor_bootstrap("floor-client", host, client_port, (host, server_port)),
            workdir / "floor-client",
            extra_args=envoy_args,
        )
        for envoy in (server_envoy, client_envoy):
            floor.append(await envoy.start())
            await envoy.wait_ready()

        proxy_url = f"http://{client_pod.ip}:{client_pod.proxy_ports.outbound}"
        target = f"http://{SERVICE}:{SERVICE_PORT}/"
        paths = [
            Path_(name="direct", url=f"http://{app[0]}:{app[1]}", request_path="/", watched={}),
            Path_(
                name="mainsail",
                url=proxy_url,
                request_path=target,
                watched={"client sidecar": (client_sidecar,), "server sidecar": (server_sidecar,)},
            ),
            Path_(
                name="floor",
                url=f"http://{host}:{client_port}",
                request_path="/",
                watched={
                    "client envoy": (one_pid(str(workdir / "floor-client" / "bootstrap.json")),),
                    "server envoy": (one_pid(str(workdir / "floor-server" / "bootstrap.json")),),
                },
            ),
        ]
        for path in paths:
            path.watched["nginx"] = nginx
        await wait_serving(paths[0].url + "/")
        await wait_serving(target, proxy=proxy_url)
        await wait_serving(paths[2].url + "/")

        print(f"envoy {envoy_binary()}; upstream nginx at {app[0]}:{app[1]}")
        print(f"wrk -t1 -c{CONNECTIONS}, ~1000 req/s (16 connections x 1 request per ~16 ms)")
        rounds: list[dict[str, Run]] = []
        for n in range(args.rounds):
            results: dict[str, Run] = {}
            order = paths if n % 2 == 0 else paths[::-1]
            for path in order:
                await run_wrk(path, args.warmup, workdir)  # connections up, caches warm
                results[path.name] = run = await run_wrk(path, args.seconds, workdir)
                print(
                    f"round {n + 1} {path.name:<9} {run.rate:6.0f} req/s  p50 {_ms(run.p50_us)}"
                    f"  p90 {_ms(run.p90_us)}  p99 {_ms(run.p99_us)} ms  errors {run.errors}",
                    flush=True,
                )
            rounds.append({p.name: results[p.name] for p in paths})
        report(rounds, concurrency)
    finally:
        for envoy in floor:
            await envoy.stop()
        await asyncio.to_thread(mesh.stop)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured run before each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-hop-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
