"""Cold start: ``mainsail demo`` launched -> first 200 from the product page through the gateway.

Baseline in the same run: the six BookInfo app processes started bare (no mesh, no Envoy; each
on its own loopback address, productpage calling the others directly) until the product page
answers 200. The difference is the mesh's share: control plane, node agent, Envoys, xDS.

Runs alternate mesh / bare so noise hits both. Run: ``.venv/bin/python benchmarks/cold_start.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.testing.loopback import free_tcp_ports, random_loopback_network

TARGET_SECONDS = 10.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# app module, version, env: what bookinfo.yaml's Deployments run
_APPS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("details", "v1", {}),
    ("ratings", "v1", {"SERVICE_VERSION": "v1"}),
    ("reviews", "v1", {"SERVICE_VERSION": "v1", "ENABLE_RATINGS": "false"}),
    ("reviews", "v2", {"SERVICE_VERSION": "v2", "ENABLE_RATINGS": "true", "STAR_COLOR": "black"}),
    ("reviews", "v3", {"SERVICE_VERSION": "v3", "ENABLE_RATINGS": "true", "STAR_COLOR": "red"}),
    ("productpage", "v1", {}),
)


def status_of(url: str) -> int:
    try:
        with _NO_PROXY.open(url, timeout=2) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def stop_group(process: subprocess.Popen[bytes], grace: float = 60.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def mesh_start(workdir: Path, timeout: float = 120.0) -> float:
    """Seconds from launching ``mainsail demo`` to a 200 from /productpage via the gateway."""
    home = Home(workdir / "mesh")
    command = [
        sys.executable, "-m", "mainsail", "demo", "--state-dir", str(home.root),
        "--pod-network", random_loopback_network(24), "--xds-port", "0", "--api-port", "0",
    ]  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "demo.log").open("wb")
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        url = ""
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"mainsail demo exited; see {workdir / 'demo.log'}")
            if not url:
                gateway = [p for p in PodStore(home.platform).list() if p.proxy_type == "router"]
                url = f"http://{gateway[0].ip}:8080/productpage" if gateway else ""
            if url and status_of(url) == 200:
                return time.perf_counter() - start
            time.sleep(0.02)
        raise TimeoutError(f"no 200 from the product page in {timeout} s")
    finally:
        stop_group(process)
        log.close()


def bare_start(timeout: float = 60.0) -> float:
    """Seconds from starting the six apps (no mesh) to a 200 from /productpage."""
    network = random_loopback_network(24).rsplit(".", 1)[0]
    addresses = {
        f"{app}-{version}": f"{network}.{i + 1}" for i, (app, version, _) in enumerate(_APPS)
    }
    ports = {name: free_tcp_ports(ip, 1)[0] for name, ip in addresses.items()}
    base = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    for service in ("details", "ratings", "reviews"):
        pick = f"{service}-v1"
        base[f"{service.upper()}_HOSTNAME"] = addresses[pick]
        base[f"{service.upper()}_SERVICE_PORT"] = str(ports[pick])
    processes: list[subprocess.Popen[bytes]] = []
    start = time.perf_counter()
    try:
        for app, version, env in _APPS:
            name = f"{app}-{version}"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"mainsail.samples.bookinfo.{app}"],
                    env={**base, **env, "INSTANCE_IP": addresses[name], "PORT": str(ports[name])},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        url = f"http://{addresses['productpage-v1']}:{ports['productpage-v1']}/productpage"
        while time.perf_counter() - start < timeout:
            if status_of(url) == 200:
                return time.perf_counter() - start
            time.sleep(0.02)
        raise TimeoutError(f"no 200 from the bare product page in {timeout} s")
    finally:
        for process in processes:
            stop_group(process, grace=10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    mesh: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mainsail-cold-start-") as tmp:
        for n in range(args.repeats):
            mesh.append(mesh_start(Path(tmp) / f"run-{n}"))
            bare.append(bare_start())
            print(f"run {n + 1}: mesh {mesh[-1]:.2f} s   bare apps {bare[-1]:.2f} s", flush=True)
    m, b = statistics.median(mesh), statistics.median(bare)
    verdict = "met" if m <= TARGET_SECONDS else "NOT met"
    print(f"\nmainsail demo -> first 200 via gateway: median {m:.2f} s (target <= 10 s: {verdict})")
    print(f"bare apps -> first 200:                 median {b:.2f} s")
    print(f"the mesh's share: +{m - b:.2f} s ({m / b:.1f}x the bare start)")


if __name__ == "__main__":
    main()
