"""``mainsail demo``: BookInfo comes up, the printed product page works, and Ctrl-C drains and
stops everything."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.testing.loopback import random_loopback_network
from mainsail.testing.mesh import http_get
from mainsail.testing.processes import kill_processes_mentioning, process_gone
from tests.runtime.meshes import command_line, mesh_processes

PRODUCT_PAGE = re.compile(r"^\s*Product page:\s+(http://\S+)$")


def _lines(stream: object, into: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)
    into.put(None)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, queue.Queue[str | None]]]:
    state = tmp_path / "state"
    command = [
        sys.executable, "-m", "mainsail", "demo", "--state-dir", str(state),
        "--pod-network", random_loopback_network(24), "--xds-port", "0", "--api-port", "0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        yield process, state, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pod in PodStore(Home(state).platform).list():
            for pid in mesh_processes(state, {pod.ip}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        kill_processes_mentioning(str(state))


def test_demo_serves_bookinfo_and_ctrl_c_stops_everything(
    demo: tuple[subprocess.Popen[str], Path, queue.Queue[str | None]],
) -> None:
    process, state, lines = demo
    printed: list[str] = []
    url = None
    while url is None:
        line = lines.get(timeout=120)
        assert line is not None, "demo exited before it was ready:\n" + "".join(printed)
        printed.append(line)
        found = PRODUCT_PAGE.match(line.rstrip("\n"))
        url = found.group(1) if found else None
    assert url.endswith(":8080/productpage")

    status, body = http_get(url)
    assert status == 200, body[:500]
    assert "Book Details" in body and "Book Reviews" in body
    assert "Reviewer1" in body and "Error fetching product reviews" not in body

    pod_ips = {pod.ip for pod in PodStore(Home(state).platform).list()}
    assert len(pod_ips) == 7  # the ingress gateway and BookInfo's six pods
    running = mesh_processes(state, pod_ips)
    assert sum("envoy -c" in command_line(pid) for pid in running) == 7

    process.send_signal(signal.SIGINT)  # what Ctrl-C in the demo's terminal sends
    assert process.wait(60) == 0
    left = [(pid, command_line(pid)) for pid in running if not process_gone(pid)]
    assert left == []
    assert mesh_processes(state, pod_ips) == []
    home = Home(state)
    assert home.read_json(home.launcher_file) is None
    assert home.read_json(home.control_plane_file) is None
