"""Scraping a pod's ``:15090/stats/prometheus`` and finding Istio's series in it."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from mainsail.cli.stat_metrics import Sample, parse_prometheus_text, series
from mainsail.platform.pod import PodSpec
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.processes import processes_mentioning

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape_text(pod: PodSpec) -> str:
    """What Prometheus reads from the pod's Envoy (``:15090``, Istio's ``prometheus.io/port``)."""
    url = f"http://{pod.ip}:{pod.proxy_ports.prometheus}/stats/prometheus"
    with _NO_PROXY.open(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def scrape(pod: PodSpec) -> list[Sample]:
    return parse_prometheus_text(scrape_text(pod))


def find(pod: PodSpec, name: str, **labels: str) -> list[Sample]:
    return series(scrape(pod), name, **labels)


def spiffe(pod: PodSpec, trust_domain: str = "cluster.local") -> str:
    return f"spiffe://{trust_domain}/ns/{pod.namespace}/sa/{pod.service_account}"


def scrape_merged(pod: PodSpec) -> str:
    """pilot-agent's merged page on the status port (``:15020/stats/prometheus``)."""
    url = f"http://{pod.ip}:{pod.proxy_ports.status}/stats/prometheus"
    with _NO_PROXY.open(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def tcp_echo_address(mesh: LocalMesh) -> tuple[str, int]:
    """Where the idle ``sleep`` app reaches tcp-echo: its own sidecar's TCP listener."""
    sleep = mesh.pod("sleep")
    [pid] = [
        p for p in processes_mentioning("signal.pause()") if _environ(p).get("POD_IP") == sleep.ip
    ]
    env = _environ(pid)
    return env["TCP_ECHO_SERVICE_HOST"], int(env["TCP_ECHO_SERVICE_PORT"])


def echo_once(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"world\n")
        return conn.makefile().readline()
