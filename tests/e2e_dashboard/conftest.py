"""One BookInfo mesh with its dashboard (scraping every second) and steady traffic through the
ingress gateway, plus a headless Debian Chromium driven by Playwright (never
``playwright install``: nothing is downloaded). Every page a test opens may only talk to the
dashboard's host; any other request is refused and fails the test."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

from mainsail.cli.mesh import demo_files
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for_sync

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "bookinfo" / "networking"
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
# Translation corrupts VirtualServices of this name on purpose (MeshConfig test hook), so that
# Envoy NACKs them and the proxies page has a NACK to show.
NACK_VS = "nack-me"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Every tenth request starts a sampled trace (B3), so the traces page has traces at Istio's
# default 1 % sampling.
_TRACED_EVERY = 10


class Traffic:
    """Requests to /productpage through the ingress gateway, about three a second, until stopped."""

    def __init__(self, mesh: LocalMesh) -> None:
        self.url = mesh.gateway_url()
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="dashboard-traffic", daemon=True)

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.sent += 1
            headers = {"x-b3-sampled": "1"} if self.sent % _TRACED_EVERY == 0 else {}
            # A refused request shows on the graph; the sender keeps going.
            with contextlib.suppress(OSError):
                http_get(self.url, headers=headers, timeout=5)
            # Pacing, not waiting for a condition: this is the request rate.
            self.stopped.wait(0.3)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(10)


@pytest.fixture(scope="package")
def dashboard_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(
        demo_files(),
        tmp_path_factory.mktemp("dashboard"),
        mesh_config={"testNackVirtualServices": [NACK_VS]},
        dashboard_port=0,
        dashboard_scrape_interval=1,
    )
    with mesh:
        cli(mesh, "apply", "-f", str(SAMPLES / "destination-rule-all.yaml"))
        with Traffic(mesh):
            yield mesh


def cli(mesh: LocalMesh, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``mainsail <args>`` until it succeeds: on a loaded machine the CLI's call to the control
    plane may time out (apply and delete are idempotent, so a retry is safe)."""
    failures: list[str] = []

    def answered() -> subprocess.CompletedProcess[str] | None:
        result = mesh.cli(*args)
        failures.append(result.stderr.strip())
        return result if result.returncode == 0 else None

    try:
        result = wait_for_sync(answered, timeout=timeout, interval=1)
    except TimeoutError as error:
        raise AssertionError(f"mainsail {' '.join(args)} failed: {failures[-3:]}") from error
    assert result is not None  # wait_for_sync returns only a truthy answer
    return result


@pytest.fixture
def mesh(dashboard_mesh: LocalMesh) -> Iterator[LocalMesh]:
    """The shared mesh; VirtualServices a test applies are deleted afterwards."""
    yield dashboard_mesh
    listed = cli(dashboard_mesh, "get", "virtualservices", "-o", "json")
    names = [
        item["metadata"]["name"]
        for item in json.loads(listed.stdout)["items"]
        if item["metadata"]["name"] != "bookinfo"
    ]
    if names:
        cli(dashboard_mesh, "delete", "virtualservices", *names)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class DashboardPage:
    """A browser tab on the dashboard that refuses every request to another host."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base.rstrip("/")
        self.host = urlsplit(base).netloc
        self.requested: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.requested.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc == self.host:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("blockedbyclient")

    def open(self, route: str) -> Page:
        """`route` is the hash route, e.g. ``/graph?refresh=1``."""
        self.page.goto(f"{self.base}/#{route}")
        return self.page

    def testid(self, value: str) -> str:
        return f'[data-testid="{value}"]'


@pytest.fixture
def dashboard(
    request: pytest.FixtureRequest, mesh: LocalMesh, browser: Browser
) -> Iterator[DashboardPage]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    tab = DashboardPage(page, mesh.dashboard_url())
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()
    assert tab.refused == [], f"requests to other hosts: {tab.refused}"
    assert tab.errors == [], f"JavaScript errors on the page: {tab.errors}"
