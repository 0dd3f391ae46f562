"""One echo mesh (``mesh.yaml``: echo v1/v2/v3, unstable, flaky, an idle client) shared by the
traffic-management tests; the rules a test applies are removed after it, and the next test starts
once the client's sidecar holds its original configuration again."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e_traffic.helpers import Traffic

MESH = Path(__file__).with_name("mesh.yaml")
PATIENT_DELAY = 16.0


@pytest.fixture(scope="package")
def echo_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with LocalMesh([MESH], tmp_path_factory.mktemp("traffic")) as mesh:
        yield mesh


@pytest.fixture(scope="package")
def baseline(echo_mesh: LocalMesh) -> Traffic:
    return Traffic.attach(echo_mesh)


@pytest.fixture(scope="package", autouse=True)
def patient_request(baseline: Traffic) -> Future[tuple[int, float]]:
    """A request to a service without a timeout that outlasts Envoy's own 15 s route default.

    Started with the mesh and read by the last test (``test_timeouts``), so the wait overlaps
    the other tests instead of adding to them.
    """
    future: Future[tuple[int, float]] = Future()

    def send() -> None:
        try:
            future.set_result(baseline.slow_get(f"http://patient:8080/?delay={PATIENT_DELAY}"))
        except Exception as error:
            future.set_exception(error)

    # A daemon thread: a run that stops early does not wait for the answer.
    threading.Thread(target=send, name="patient-request", daemon=True).start()
    return future


@pytest.fixture
async def traffic(baseline: Traffic) -> AsyncIterator[Traffic]:
    async with baseline.session():
        yield baseline
    await baseline.reset()
