"""One echo mesh (``mesh.yaml``) shared by the one-per-behaviour traffic-management tests; the
rules a test applies (VirtualService, DestinationRule, ServiceEntry, WorkloadEntry, Sidecar) are
removed after it, and the next test starts once the client's sidecar holds its original
configuration again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e_more.helpers import remove_rules
from tests.e2e_traffic.helpers import Traffic

MESH = Path(__file__).with_name("mesh.yaml")


@pytest.fixture(scope="package")
def more_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("more")) as mesh:
        yield mesh


@pytest.fixture(scope="package")
def baseline(more_mesh: LocalMesh) -> Traffic:
    return Traffic.attach(more_mesh)


@pytest.fixture
async def traffic(baseline: Traffic) -> AsyncIterator[Traffic]:
    async with baseline.session():
        yield baseline
    await remove_rules(baseline)
