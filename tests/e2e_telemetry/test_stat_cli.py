"""``mainsail stat`` over the live mesh: BookInfo under load shows rps, success and latencies."""

from __future__ import annotations

import asyncio
import json
import threading

from mainsail.testing.mesh import LocalMesh, http_get


async def test_stat_services_under_load(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            http_get(mesh.gateway_url("/productpage"))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        result = await asyncio.to_thread(
            mesh.cli, "stat", "service", "-n", "default", "-w", "6", "-o", "json"
        )
        table = await asyncio.to_thread(mesh.cli, "stat", "svc", "productpage", "-w", "6")
    finally:
        stop.set()
        worker.join(timeout=15)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"productpage", "details", "reviews", "ratings"} <= set(rows)
    productpage = rows["productpage"]
    assert productpage["namespace"] == "default"
    assert productpage["requests"] >= 1 and productpage["rps"] > 0
    assert productpage["success_rate"] == 1.0
    assert 0 < productpage["latency_ms_p50"] <= productpage["latency_ms_p99"]
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "SERVICE",
        "REQUESTS",
        "SUCCESS",
        "RPS",
        "P50",
        "P90",
        "P99",
    ]
    assert [line.split()[:2] for line in lines] == [["default", "productpage"]]
    assert lines[0].split()[3] == "100.00%"
    # A service nobody called in the window is an error that says so.
    idle = await asyncio.to_thread(mesh.cli, "stat", "svc", "nosuch", "-w", "0.5")
    assert idle.returncode == 1
    assert "no requests to service 'nosuch' in namespace 'default'" in idle.stderr
