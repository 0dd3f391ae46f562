"""The Telemetry API on a live BookInfo mesh (its own: the package's shared mesh keeps Istio's
defaults): a workload Telemetry disables REQUEST_COUNT for reviews, another removes and upserts
tags on ratings, a mesh-wide one logs only errors (``response.code >= 400``) through Istio's
``envoy`` provider; the control plane's ``/metrics`` counts pushes and connected proxies."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.cli.mesh import demo_files
from mainsail.cli.stat_metrics import parse_prometheus_text, series
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import find

TELEMETRIES = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews-no-count, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT}
      disabled: true
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: ratings-tags, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        response_flags: {operation: REMOVE}
        request_method: {value: "request.method"}
"""

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def api_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    home = tmp_path_factory.mktemp("telemetry-api")
    telemetries = home / "telemetries.yaml"
    telemetries.write_text(TELEMETRIES, encoding="utf-8")
    with LocalMesh([*demo_files(), telemetries], home / "mesh") as mesh:
        yield mesh


async def _traffic(mesh: LocalMesh, count: int = 8) -> None:
    for _ in range(count):
        status, _ = await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
        assert status == 200


async def test_request_count_disabled_and_tags_overridden(api_mesh: LocalMesh) -> None:
    mesh = api_mesh
    await _traffic(mesh)
    reviews, ratings, details = (mesh.pod(p) for p in ("reviews-v2", "ratings", "details"))

    def ratings_counted() -> bool:
        return bool(find(ratings, "istio_requests_total", reporter="destination"))

    await wait_for(ratings_counted, timeout=30, interval=0.5, message="ratings' requests")

    async def reviews_measured() -> bool:
        # Histograms reach /stats/prometheus at Envoy's 5 s stats flush, counters at once; and
        # eight page loads need not all reach reviews-v2 (least-request over three versions).
        found = find(reviews, "istio_request_duration_milliseconds_count", reporter="destination")
        if not found:
            await _traffic(mesh, 2)
        return bool(found)

    await wait_for(
        reviews_measured, timeout=30, interval=0.5, message="reviews-v2's request durations"
    )
    # reviews: no istio_requests_total, in either direction; its other metrics stay.
    assert find(reviews, "istio_requests_total") == []
    # details is untouched.
    assert find(details, "istio_requests_total", reporter="destination")
    # ratings: response_flags removed, request_method added, on the server side only.
    servers = find(ratings, "istio_requests_total", reporter="destination")
    for server in servers:  # one per calling reviews version
        labels = dict(server.labels)
        assert "response_flags" not in labels
        assert labels["request_method"] == "GET"
        assert labels["destination_workload"] == "ratings-v1"


async def test_mesh_wide_access_log_filter_logs_only_errors(api_mesh: LocalMesh) -> None:
    mesh = api_mesh
    gateway = next(p for p in mesh.pods() if p.proxy_type == "router")
    log = mesh.home.root / "logs" / f"{gateway.namespace}.{gateway.name}.access.log"
    await _traffic(mesh, 2)
    status, _ = await asyncio.to_thread(http_get, mesh.gateway_url("/no-such-page-telemetry"))
    assert status == 404

    def logged() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    lines = await wait_for(logged, timeout=20, interval=0.5, message=f"a line in {log}")
    assert any('"GET /no-such-page-telemetry HTTP/1.1" 404' in line for line in lines)
    assert not any("/productpage" in line for line in lines), lines


def _control_plane_metrics(mesh: LocalMesh) -> str:
    info = mesh.home.read_json(mesh.home.control_plane_file) or {}
    with _NO_PROXY.open(f"{info['api']}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body: bytes = response.read()
    return body.decode()


async def test_control_plane_metrics_show_pushes_and_connected_proxies(
    api_mesh: LocalMesh,
) -> None:
    samples = parse_prometheus_text(await asyncio.to_thread(_control_plane_metrics, api_mesh))
    connected = sum(s.value for s in series(samples, "pilot_xds"))
    assert connected == len(api_mesh.pods())
    for kind in ("cds", "eds", "lds", "rds"):
        assert series(samples, "pilot_xds_pushes", type=kind)[0].value >= len(api_mesh.pods())
    assert series(samples, "pilot_xds_push_time_count")[0].value > 0
    events = series(samples, "pilot_k8s_cfg_events", type="Telemetry", event="add")
    assert events[0].value == 3
    # Every pod's certificate came from the CA.
    assert series(samples, "citadel_server_success_cert_issuance_count")[0].value >= len(
        api_mesh.pods()
    )


LIVE = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: details-tags, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        request_path: {value: "request.url_path"}
"""


async def test_a_telemetry_applied_to_the_running_mesh_reaches_its_workload(
    api_mesh: LocalMesh, tmp_path: Path
) -> None:
    mesh = api_mesh
    path = tmp_path / "live.yaml"
    path.write_text(LIVE, encoding="utf-8")
    await asyncio.to_thread(mesh.cli, "apply", "-f", str(path), check=True)
    details = mesh.pod("details")

    async def tagged() -> bool:
        await _traffic(mesh, 1)
        found = find(details, "istio_requests_total", reporter="destination")
        return any(dict(s.labels).get("request_path", "").startswith("/details/") for s in found)

    await wait_for(tagged, timeout=60, interval=1, message="details' request_path tag")
