"""One BookInfo mesh (ingress gateway + six pods, real Envoys) shared by the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.cli.mesh import demo_files
from mainsail.testing.mesh import LocalMesh

# Translation corrupts VirtualServices of this name on purpose (MeshConfig test hook), so that
# Envoy NACKs them: the NACK path is exercised end to end.
NACK_VS = "nack-me"


@pytest.fixture(scope="package")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    home = tmp_path_factory.mktemp("mesh")
    mesh = LocalMesh(demo_files(), home, mesh_config={"testNackVirtualServices": [NACK_VS]})
    with mesh:
        yield mesh


@pytest.fixture
def mesh(bookinfo: LocalMesh) -> Iterator[LocalMesh]:
    """The shared mesh; routing config a test applies is removed afterwards."""
    yield bookinfo
    for kind in ("virtualservices", "destinationrules"):
        listed = bookinfo.cli("get", kind, "-o", "json", check=True)
        names = [
            i["metadata"]["name"]
            for i in json.loads(listed.stdout)["items"]
            if i["metadata"]["name"] != "bookinfo"
        ]
        if names:
            bookinfo.cli("delete", kind, *names, check=True)


SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "bookinfo" / "networking"
