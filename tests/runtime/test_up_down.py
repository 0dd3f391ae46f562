"""``mainsail up`` / ``status`` / ``down`` on a mesh the user describes, end to end: real
control plane, node agent, Envoys and apps on a random loopback network."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.testing.loopback import random_loopback_network
from mainsail.testing.processes import kill_processes_mentioning, process_gone
from tests.runtime.meshes import (
    RATINGS_AND_CLIENT,
    command_line,
    get_via_sidecar,
    mesh_processes,
    processes_with_pod_ip,
    write_mesh,
)

NEGATIVE_WEIGHT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings}
      weight: -5
"""


def mainsail(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mainsail", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def up(state: Path, network: str, *files: Path) -> subprocess.CompletedProcess[str]:
    flags = [f for file in files for f in ("-f", str(file))]
    return mainsail(
        "up", *flags, "--pod-network", network, "--xds-port", "0", "--api-port", "0", state=state
    )


def status_rows(state: Path) -> dict[str, list[str]]:
    """``mainsail status``'s pod table, by pod name prefix (``ratings``, ``client``)."""
    result = mainsail("status", state=state)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("NAMESPACE")))
    assert lines[header].split() == ["NAMESPACE", "POD", "PROXY", "ADDRESS", "SIDECAR", "PORTS"]
    rows = [line.split() for line in lines[header + 1 :]]
    return {row[1].split("-")[0]: row for row in rows}


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    # Whatever a failed test left running goes; apps do not name the state directory.
    for pid in processes_with_pod_ip({p.ip for p in PodStore(Home(state).platform).list()}):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    kill_processes_mentioning(str(state))


def test_up_status_traffic_then_down_stops_every_process(tmp_path: Path, state: Path) -> None:
    network = random_loopback_network(24)
    started = up(state, network, write_mesh(tmp_path))
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout == "mesh is up (2 pods); `mainsail status` shows them\n"

    status = mainsail("status", state=state).stdout
    assert status.splitlines()[0].split() == ["mesh:", "ready"]
    assert status.splitlines()[1].startswith("control plane: running (API http://127.0.0.1:")
    rows = status_rows(state)
    assert set(rows) == {"ratings", "client"}
    ratings, client = rows["ratings"], rows["client"]
    assert ratings[2:] == ["sidecar", ratings[3], "READY", "9080"]
    assert client[2:] == ["sidecar", client[3], "READY", "-"]
    prefix = network.rsplit(".", 1)[0] + "."
    assert ratings[3].startswith(prefix) and client[3].startswith(prefix)

    # The client's app would send this through its sidecar (HTTP_PROXY); so does the test.
    code, body = get_via_sidecar(f"http://{client[3]}:15001", "http://ratings:9080/ratings/0")
    assert code == 200, body
    assert json.loads(body) == {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}

    # A second `up` from the same state directory is refused and disturbs nothing.
    again = up(state, random_loopback_network(24), write_mesh(tmp_path))
    assert again.returncode == 1
    assert "error: a mesh is already running from" in again.stderr
    assert "stop it with `mainsail down`" in again.stderr
    assert {name: row[4] for name, row in status_rows(state).items()} == {
        "ratings": "READY",
        "client": "READY",
    }

    running = mesh_processes(state, {ratings[3], client[3]})
    commands = [command_line(pid) for pid in running]
    for part in ("up --foreground", "control-plane", "agent", "envoy", "bookinfo.ratings"):
        assert any(part in c for c in commands), (part, commands)
    assert sum("envoy -c" in c for c in commands) == 2
    assert sum("signal.pause" in c for c in commands) == 1

    stopped = mainsail("down", state=state)
    assert (stopped.returncode, stopped.stdout) == (0, "mesh stopped\n")
    left = [(pid, command_line(pid)) for pid in running if not process_gone(pid)]
    assert left == []
    assert mesh_processes(state, {ratings[3], client[3]}) == []

    second = mainsail("down", state=state)
    assert (second.returncode, second.stdout) == (0, "no mesh is running\n")
    after = mainsail("status", state=state)
    assert after.returncode == 3
    assert after.stdout.splitlines() == ["mesh:          stopped", "control plane: not running"]


def test_up_with_an_invalid_document_names_it_and_starts_nothing(
    tmp_path: Path, state: Path
) -> None:
    mesh = write_mesh(tmp_path)
    bad = tmp_path / "routes.yaml"
    bad.write_text(NEGATIVE_WEIGHT)
    result = up(state, random_loopback_network(24), mesh, bad)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {bad}: document 1 (VirtualService default/ratings): "
        "spec.http[0].route[0].weight: must be >= 0 [MS-VS-WEIGHT]",
        f"error: 1 error(s) in {mesh}, {bad}; nothing started",
    ]
    assert not state.exists()
    assert mesh_processes(state, set()) == []


def test_up_with_a_deployment_the_platform_cannot_run_names_it_and_leaves_nothing(
    tmp_path: Path, state: Path
) -> None:
    no_command = RATINGS_AND_CLIENT.replace(
        '        command: ["python", "-c", "import signal; signal.pause()"]\n', ""
    )
    mesh = write_mesh(tmp_path, no_command)
    result = up(state, random_loopback_network(24), mesh)
    assert result.returncode == 1
    assert (
        f"error: {mesh}: document 4: Deployment/default/client.spec.template.spec.containers[0]"
        ".command: the local platform runs a container's command/args; none given"
    ) in result.stderr
    home = Home(state)
    assert home.read_json(home.control_plane_file) is None
    assert home.read_json(home.launcher_file) is None
    assert mesh_processes(state, set()) == []


def test_down_after_the_launcher_was_killed_stops_what_it_left(tmp_path: Path, state: Path) -> None:
    network = random_loopback_network(24)
    started = up(state, network, write_mesh(tmp_path))
    assert started.returncode == 0, started.stdout + started.stderr
    ips = {p.ip for p in PodStore(Home(state).platform).list()}
    launcher = int(json.loads((state / "launcher.json").read_text())["pid"])
    os.kill(launcher, signal.SIGKILL)
    running = mesh_processes(state, ips)
    assert len(running) >= 5  # control plane, agent, two Envoys, two apps

    stopped = mainsail("down", state=state)
    assert stopped.returncode == 0
    assert stopped.stdout.startswith("mesh stopped (")
    assert "left by a launcher that had died" in stopped.stdout
    assert [(pid, command_line(pid)) for pid in running if not process_gone(pid)] == []
    assert mainsail("down", state=state).stdout == "no mesh is running\n"
