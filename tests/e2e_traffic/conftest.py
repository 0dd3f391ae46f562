"""One echo mesh (``mesh.yaml``: echo v1/v2/v3, unstable, flaky, an idle client) shared by the
traffic-management tests; the rules a test applies are removed after it, and the next test starts
once the client's sidecar holds its original configuration again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e_traffic.helpers import Traffic

MESH = Path(__file__).with_name("mesh.yaml")


@pytest.fixture(scope="package")
def echo_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("traffic")) as mesh:
        yield mesh


@pytest.fixture(scope="package")
def baseline(echo_mesh: LocalMesh) -> Traffic:
    return Traffic.attach(echo_mesh)


@pytest.fixture
async def traffic(baseline: Traffic) -> AsyncIterator[Traffic]:
    async with baseline.session():
        yield baseline
    await baseline.reset()
