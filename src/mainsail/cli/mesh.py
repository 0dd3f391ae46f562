"""``mainsail demo``, ``up``, ``down`` and ``status``: run a mesh on this machine."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

from mainsail.cli.common import CommandError, add_home_argument, describe, home_of, print_table
from mainsail.cli.daemons import add_dashboard_arguments, check_dashboard_arguments
from mainsail.config.parse import load_paths
from mainsail.platform.addresses import DEFAULT_POD_NETWORK
from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.runtime.launcher import (
    LaunchError,
    LaunchSettings,
    MeshLauncher,
    check_files,
    run_until_signalled,
)
from mainsail.runtime.processes import pid_alive, processes_of_mesh, terminate, terminate_all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run BookInfo behind an ingress gateway (foreground)")
    _add_placement_arguments(demo)
    add_home_argument(demo)
    demo.set_defaults(run=run_demo)
    up = sub.add_parser("up", help="run the workloads and config of mesh.yaml files")
    up.add_argument("-f", "--filename", action="append", required=True, type=Path)
    up.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C")
    up.add_argument("--mesh-config", type=Path, help="MeshConfig YAML for the control plane")
    _add_placement_arguments(up)
    add_home_argument(up)
    up.set_defaults(run=run_up)
    down = sub.add_parser("down", help="stop the mesh started by `up`")
    add_home_argument(down)
    down.set_defaults(run=run_down)
    status = sub.add_parser("status", help="what is running")
    add_home_argument(status)
    status.set_defaults(run=run_status)


def _add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pod-network",
        default=DEFAULT_POD_NETWORK,
        help=f"loopback network pods get addresses from (default {DEFAULT_POD_NETWORK})",
    )
    parser.add_argument("--xds-port", type=int, help="control plane xDS port (0: any free)")
    parser.add_argument(
        "--xds-tls-port",
        type=int,
        help="control plane TLS xDS + CA port (default 15012; 0: any free)",
    )
    parser.add_argument(
        "--xds-tls",
        action="store_true",
        help="agent and Envoys reach the control plane over its TLS port, as Istio's sidecars "
        "reach istiod's 15012 (default: the plaintext port)",
    )
    parser.add_argument("--api-port", type=int, help="control plane API port (0: any free)")
    parser.add_argument(
        "--cert-ttl", type=int, default=3600, help="seconds each pod's SVID is requested for"
    )
    add_dashboard_arguments(parser, port_default=None)


def _launch_settings(args: argparse.Namespace, files: tuple[Path, ...]) -> LaunchSettings:
    return LaunchSettings(
        home=home_of(args),
        files=files,
        pod_network=args.pod_network,
        xds_port=args.xds_port,
        xds_tls_port=args.xds_tls_port,
        xds_tls=args.xds_tls,
        api_port=args.api_port,
        mesh_config=getattr(args, "mesh_config", None),
        cert_ttl_s=args.cert_ttl,
        dashboard_port=args.dashboard_port,
        dashboard_scrape_interval=args.dashboard_scrape_interval,
        prometheus_url=args.prometheus_url,
    )


def _sample(*parts: str) -> Path:
    return Path(str(resources.files("mainsail.samples").joinpath(*parts)))


def demo_files() -> tuple[Path, ...]:
    return (
        _sample("ingress", "istio-ingressgateway.yaml"),
        _sample("bookinfo", "platform", "bookinfo.yaml"),
        _sample("bookinfo", "networking", "bookinfo-gateway.yaml"),
    )


def _gateway_url(launcher: MeshLauncher) -> str:
    for pod in launcher.pods:
        if pod.proxy_type == "router" and pod.labels.get("istio") == "ingressgateway":
            return f"http://{pod.ip}:8080/productpage"
    return "(no ingress gateway)"


def _invoked_as() -> str:
    """How the user reaches this command: ``mainsail`` when it is on PATH, else the path they
    typed (``.venv/bin/mainsail`` right after the README's install)."""
    typed = sys.argv[0]
    found = shutil.which("mainsail")
    if found and os.path.realpath(found) == os.path.realpath(typed):
        return "mainsail"
    return typed if os.sep in typed and os.path.basename(typed) == "mainsail" else "mainsail"


def demo_mesh_config() -> Path:
    """Istio's demo profile MeshConfig (access logs on)."""
    return _sample("bookinfo", "platform", "demo-mesh-config.yaml")


def _dashboard_url(launcher: MeshLauncher) -> str:
    info = launcher.home.read_json(launcher.home.control_plane_file) or {}
    return str(info.get("dashboard") or "(not running)")


def run_demo(args: argparse.Namespace) -> int:
    check_dashboard_arguments(args)
    settings = _launch_settings(args, demo_files())
    launcher = MeshLauncher(replace(settings, mesh_config=demo_mesh_config()))
    state = f" --state-dir {args.state_dir}" if args.state_dir else ""

    prog = _invoked_as()

    def ready() -> None:
        print(
            f"""
Mainsail demo is running: BookInfo behind the ingress gateway.

  Product page:   {_gateway_url(launcher)}
  Dashboard:      {_dashboard_url(launcher)}   (`{prog} dashboard{state}` prints it)

Try next, in another terminal:
  {prog} status{state}
  {prog} proxy-status{state}
  {prog} apply{state} -f samples/bookinfo/networking/destination-rule-all.yaml
  {prog} apply{state} -f samples/bookinfo/networking/virtual-service-all-v1.yaml
  {prog} apply{state} -f samples/bookinfo/networking/virtual-service-reviews-50-v3.yaml
  {prog} get virtualservices{state}
  {prog} proxy-config routes <pod>{state}

Logs: {launcher.home.platform.logs_dir}
Press Ctrl-C to drain and stop everything.
""",
            flush=True,
        )

    return _run(launcher, ready)


def _run(launcher: MeshLauncher, ready: object) -> int:
    try:
        return asyncio.run(run_until_signalled(launcher, ready))  # type: ignore[arg-type]
    except LaunchError as exc:
        raise CommandError(str(exc)) from exc


def run_up(args: argparse.Namespace) -> int:
    home = home_of(args)
    files = tuple(args.filename)
    check_dashboard_arguments(args)
    if args.cert_ttl < 1:
        raise CommandError(f"--cert-ttl {args.cert_ttl}: want a positive number of seconds")
    # Every error before anything starts, as `mainsail validate` would list them.
    problems = check_files(load_paths(files))
    if problems:
        for problem in problems:
            print(describe(problem), file=sys.stderr)
        raise CommandError(
            f"{len(problems)} error(s) in {', '.join(map(str, files))}; nothing started"
        )
    if args.foreground:
        launcher = MeshLauncher(_launch_settings(args, files))
        return _run(launcher, lambda: print("mesh is ready; Ctrl-C stops it", flush=True))
    command = [
        sys.executable,
        "-m",
        "mainsail",
        "up",
        "--foreground",
        "--state-dir",
        str(home.root),
    ]
    for file in files:
        command += ["-f", str(file.resolve())]
    if args.mesh_config:
        command += ["--mesh-config", str(args.mesh_config.resolve())]
    command += ["--pod-network", args.pod_network]
    for flag, value in (
        ("--xds-port", args.xds_port),
        ("--xds-tls-port", args.xds_tls_port),
        ("--api-port", args.api_port),
    ):
        if value is not None:
            command += [flag, str(value)]
    if args.xds_tls:
        command += ["--xds-tls"]
    command += ["--cert-ttl", str(args.cert_ttl)]
    if args.dashboard_port is not None:
        command += ["--dashboard-port", str(args.dashboard_port)]
    command += ["--dashboard-scrape-interval", str(args.dashboard_scrape_interval)]
    if args.prometheus_url:
        command += ["--prometheus-url", args.prometheus_url]
    running = home.read_json(home.launcher_file) or {}
    if running.get("pid") and pid_alive(int(running["pid"])):
        raise CommandError(
            f"a mesh is already running from {home.root} (pid {running['pid']}); "
            "stop it with `mainsail down`"
        )
    home.root.mkdir(parents=True, exist_ok=True)
    log = home.root / "logs" / "launcher.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = home.read_json(home.launcher_file) or {}
        if state.get("pid") == process.pid and state.get("state") == "ready":
            print(f"mesh is up ({len(state.get('pods', []))} pods); `mainsail status` shows them")
            return 0
        if process.poll() is not None:
            raise CommandError(f"`mainsail up` failed; see {log}:\n{_tail(log)}")
        time.sleep(0.1)
    raise CommandError(f"the mesh did not become ready in 90 s; see {log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_down(args: argparse.Namespace) -> int:
    home = home_of(args)
    state = home.read_json(home.launcher_file)
    if state and pid_alive(int(state.get("pid", 0))):
        asyncio.run(terminate(int(state["pid"]), grace=60))
        print("mesh stopped")
        return 0
    # The launcher is gone (killed, or crashed): stop whatever it left running.
    leftovers = processes_of_mesh(home.root)
    if not leftovers:
        print("no mesh is running")
        return 0
    asyncio.run(terminate_all(leftovers))
    for path in (home.launcher_file, home.control_plane_file):
        path.unlink(missing_ok=True)
    print(f"mesh stopped ({len(leftovers)} processes left by a launcher that had died)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    home: Home = home_of(args)
    launcher = home.read_json(home.launcher_file) or {}
    control = home.read_json(home.control_plane_file) or {}
    alive = bool(launcher.get("pid")) and pid_alive(int(launcher["pid"]))
    print(f"mesh:          {launcher.get('state', 'stopped') if alive else 'stopped'}")
    cp_alive = bool(control.get("pid")) and pid_alive(int(control["pid"]))
    print(
        f"control plane: {'running' if cp_alive else 'not running'}"
        + (
            f" (API {control.get('api')}, xDS {control.get('xds')}"
            + (f", xDS TLS {control['xds_tls']}" if control.get("xds_tls") else "")
            + ")"
            if cp_alive
            else ""
        )
    )
    pods = PodStore(home.platform).list()
    if not pods:
        return 0 if alive else 3
    rows = []
    for pod in pods:
        proxy_ready = _ready(pod.ip, pod.proxy_ports.status)
        rows.append(
            [
                pod.namespace,
                pod.name,
                pod.proxy_type,
                pod.ip,
                "READY" if proxy_ready else "NOT READY",
                ",".join(str(p) for p in sorted(pod.app_ports)) or "-",
            ]
        )
    print()
    print_table(["NAMESPACE", "POD", "PROXY", "ADDRESS", "SIDECAR", "PORTS"], rows)
    return 0


def _ready(host: str, port: int) -> bool:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}/healthz/ready", timeout=1) as response:
            return int(response.status) == 200
    except OSError:
        return False
