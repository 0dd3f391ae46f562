"""One BookInfo mesh (plus Istio's tcp-echo and an idle ``sleep`` client) with Istio's demo
telemetry: standard metrics (on by default) and access logs (``accessLogFile: /dev/stdout``,
which the local platform writes to ``<home>/logs/<ns>.<pod>.access.log``), JSON encoded; and a
real Prometheus (Debian's ``prometheus`` package) scraping every pod's ``:15090``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml

from mainsail.cli.mesh import demo_files
from mainsail.testing.mesh import LocalMesh
from mainsail.testing.ports import free_port

# scripts/test.sh installs Debian's prometheus package when it is missing.
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture(scope="package")
def prometheus_port() -> int:
    """Where the ``prometheus`` fixture listens: chosen before the mesh starts, because the
    mesh's dashboard is told (``--prometheus-url``) to read its charts' history there."""
    return free_port()


@pytest.fixture(scope="package")
def telemetry_mesh(
    tmp_path_factory: pytest.TempPathFactory, prometheus_port: int
) -> Iterator[LocalMesh]:
    tcp_echo = Path(str(resources.files("mainsail.samples.tcp_echo").joinpath("tcp-echo.yaml")))
    mesh = LocalMesh(
        [*demo_files(), tcp_echo],
        tmp_path_factory.mktemp("telemetry"),
        mesh_config={"accessLogFile": "/dev/stdout", "accessLogEncoding": "JSON"},
        prometheus_url=f"http://127.0.0.1:{prometheus_port}",
    )
    with mesh:
        yield mesh


@pytest.fixture
def prometheus(telemetry_mesh: LocalMesh, prometheus_port: int, tmp_path: Path) -> Iterator[str]:
    """The base URL of a Prometheus scraping every pod's Envoy each second, as Istio's
    ``http-envoy-prom`` job does (``/stats/prometheus`` on ``:15090``)."""
    targets = [f"{p.ip}:{p.proxy_ports.prometheus}" for p in telemetry_mesh.pods()]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "envoy-stats",
                "metrics_path": "/stats/prometheus",
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = prometheus_port
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
