"""Running ``mainsail`` as a user does, against a real control-plane process.

``Cli`` calls the command's ``main`` in this process (fast, same argv and exit codes);
tests that are about the installed command itself run ``python -m mainsail`` instead.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mainsail.api.client import ApiClient
from mainsail.cli.main import main
from mainsail.runtime.home import Home
from mainsail.testing.processes import process_gone
from mainsail.testing.waiting import wait_for_sync


@dataclass(frozen=True, slots=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass(frozen=True, slots=True)
class Cli:
    state_dir: Path

    def __call__(self, *args: str) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*args, "--state-dir", str(self.state_dir)])
            except SystemExit as exit:  # argparse
                code = int(exit.code or 0)
        return Ran(code, out.getvalue(), err.getvalue())


def run_mainsail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mainsail", *args], capture_output=True, text=True, timeout=60
    )


@dataclass(frozen=True, slots=True)
class ControlPlane:
    home: Home
    pid: int
    client: ApiClient


@pytest.fixture(scope="package")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """``mainsail control-plane`` on OS-chosen ports, with its own state directory."""
    home = Home(tmp_path_factory.mktemp("control-plane"))
    log = home.root / "control-plane.log"
    command = [
        sys.executable, "-m", "mainsail", "control-plane", "--state-dir", str(home.root),
        "--xds-port", "0", "--api-port", "0",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    try:

        def answering() -> ApiClient | None:
            assert process.poll() is None, log.read_text()
            info = home.read_json(home.control_plane_file) or {}
            if info.get("pid") != process.pid:
                return None
            client = ApiClient(str(info["api"]), timeout=2)
            client.healthz()
            return client

        client = wait_for_sync(answering, timeout=30, message="the control plane answering")
        assert client is not None
        yield ControlPlane(home, process.pid, client)
    finally:
        process.terminate()
        process.wait(30)
    assert process_gone(process.pid)


@pytest.fixture
def cli(control_plane: ControlPlane) -> Iterator[Cli]:
    """The CLI pointed at the shared control plane; whatever a test applied is deleted after."""
    yield Cli(control_plane.home.root)
    items = control_plane.client.list_config()["items"]
    keys = [
        (i["kind"], i["metadata"].get("namespace", "default"), i["metadata"]["name"]) for i in items
    ]
    if keys:
        control_plane.client.delete_keys(keys)
