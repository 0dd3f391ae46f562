"""``mainsail dashboard``: the URL from the running control plane's endpoints file, and a clear
error when no mesh runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mainsail.cli.main import main


def test_prints_the_url_of_the_running_control_plane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoints = {
        "pid": os.getpid(),
        "api": "http://127.0.0.1:1",
        "dashboard": "http://127.0.0.1:20001",
    }
    (tmp_path / "controlplane.json").write_text(json.dumps(endpoints))
    assert main(["dashboard", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "http://127.0.0.1:20001\n"


def test_no_mesh_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"no control plane is running from {tmp_path}" in err
    assert "mainsail demo" in err


def test_a_dead_control_plane_is_no_mesh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pid that cannot be alive (above the kernel's pid_max).
    endpoints = {"pid": 2**22 + 1, "dashboard": "http://127.0.0.1:20001"}
    (tmp_path / "controlplane.json").write_text(json.dumps(endpoints))
    assert main(["dashboard", "--state-dir", str(tmp_path)]) == 1
    assert "no control plane is running" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dashboard-scrape-interval", "0"], "--dashboard-scrape-interval 0.0"),
        (["--prometheus-url", "prom:9090"], "--prometheus-url 'prom:9090'"),
        (["--dashboard-port", "70000"], "--dashboard-port 70000"),
    ],
)
def test_bad_dashboard_flags_are_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    assert main(["up", "-f", str(mesh), "--state-dir", str(tmp_path), *flags]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "launcher.json").exists()
