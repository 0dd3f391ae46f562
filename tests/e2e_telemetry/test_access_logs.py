"""Access logs (MeshConfig ``accessLogFile: /dev/stdout``, JSON) land in each pod's own file
with the fields of Istio's default format."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from mainsail.xds.telemetry_logs import ISTIO_JSON_FORMAT

ISTIO_JSON_KEYS = {
    "start_time",
    "route_name",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "upstream_transport_failure_reason",
}


def test_default_json_format_is_istios() -> None:
    assert set(ISTIO_JSON_FORMAT) == ISTIO_JSON_KEYS


async def test_each_pod_writes_json_lines_with_istios_fields(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    productpage = mesh.pod("productpage")
    log = mesh.home.root / "logs" / f"{productpage.namespace}.{productpage.name}.access.log"
    status, _ = await asyncio.to_thread(
        http_get, mesh.gateway_url("/productpage"), headers={"User-Agent": "telemetry-test/1"}
    )
    assert status == 200

    def inbound_line() -> dict[str, Any] | None:
        if not log.exists():
            return None
        for line in log.read_text().splitlines():
            entry: dict[str, Any] = json.loads(line)
            if (
                entry.get("user_agent") == "telemetry-test/1"
                and entry.get("path") == "/productpage"
            ):
                return entry
        return None

    # Envoy flushes access log files every second.
    found = await wait_for(inbound_line, timeout=20, interval=0.5, message=f"a line in {log}")
    assert found is not None
    entry = found
    assert set(entry) == ISTIO_JSON_KEYS
    assert entry["method"] == "GET"
    assert entry["response_code"] == 200
    assert entry["upstream_cluster"] == "inbound|9080||"
    assert entry["requested_server_name"].startswith("outbound_.9080_._.productpage")
    assert entry["downstream_local_address"] == f"{productpage.ip}:9080"
    # The outbound calls productpage made go to the same file, with their clusters.
    await wait_for(
        lambda: any(
            json.loads(line).get("upstream_cluster", "").startswith("outbound|9080|")
            for line in log.read_text().splitlines()
        ),
        timeout=20,
        interval=0.5,
        message="productpage's outbound calls logged",
    )
