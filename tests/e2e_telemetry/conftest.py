"""One BookInfo mesh (plus Istio's tcp-echo and an idle ``sleep`` client) with Istio's demo
telemetry: standard metrics (on by default) and access logs (``accessLogFile: /dev/stdout``,
which the local platform writes to ``<home>/logs/<ns>.<pod>.access.log``), JSON encoded."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from mainsail.cli.mesh import demo_files
from mainsail.testing.mesh import LocalMesh


@pytest.fixture(scope="package")
def telemetry_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    tcp_echo = Path(str(resources.files("mainsail.samples.tcp_echo").joinpath("tcp-echo.yaml")))
    mesh = LocalMesh(
        [*demo_files(), tcp_echo],
        tmp_path_factory.mktemp("telemetry"),
        mesh_config={"accessLogFile": "/dev/stdout", "accessLogEncoding": "JSON"},
    )
    with mesh:
        yield mesh
