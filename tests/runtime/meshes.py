"""A small user-described mesh (not BookInfo): the ratings app and a client pod that only calls."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from pathlib import Path

from mainsail.testing.processes import process_gone, processes_mentioning

RATINGS_AND_CLIENT = """\
apiVersion: v1
kind: Service
metadata:
  name: ratings
  labels: {app: ratings}
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: ratings
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ratings
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ratings-v1
  labels: {app: ratings, version: v1}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ratings, version: v1}
  template:
    metadata:
      labels: {app: ratings, version: v1}
    spec:
      serviceAccountName: ratings
      containers:
      - name: ratings
        image: docker.io/istio/examples-bookinfo-ratings-v1:1.20.3
        command: ["python", "-m", "mainsail.samples.bookinfo.ratings"]
        ports:
        - containerPort: 9080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: client
  labels: {app: client}
spec:
  replicas: 1
  selector:
    matchLabels: {app: client}
  template:
    metadata:
      labels: {app: client}
    spec:
      containers:
      - name: client
        image: curlimages/curl
        command: ["python", "-c", "import signal; signal.pause()"]
"""


def write_mesh(directory: Path, text: str = RATINGS_AND_CLIENT) -> Path:
    path = directory / "mesh.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def get_via_sidecar(proxy: str, url: str) -> tuple[int, str]:
    """GET ``url`` through a pod's sidecar HTTP-proxy listener, as the pod's app would."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    try:
        with opener.open(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def processes_with_pod_ip(ips: set[str]) -> list[int]:
    """Live app processes started for pods with these addresses (the platform sets POD_IP)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            environ = (entry / "environ").read_bytes().split(b"\0")
            if any(v.startswith(b"POD_IP=") and v[7:].decode() in ips for v in environ) and not (
                process_gone(int(entry.name))
            ):
                found.append(int(entry.name))
    return sorted(found)


def mesh_processes(state_dir: Path, pod_ips: set[str]) -> list[int]:
    """Every live process of a mesh: launcher, control plane, agent, Envoys (their command lines
    name the state directory) and apps (their environment names their pod's address)."""
    return sorted(set(processes_mentioning(str(state_dir))) | set(processes_with_pod_ip(pod_ips)))


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "<gone>"
