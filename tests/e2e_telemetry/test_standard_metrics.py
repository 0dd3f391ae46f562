"""Istio's standard metrics from real Envoys after BookInfo traffic: both reporters of every hop
with Istio's exact label set, a fault's ``FI``, an unmatched route's ``NR``, TCP counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mainsail.cli.stat_metrics import Sample
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import (
    echo_once,
    find,
    scrape,
    scrape_text,
    spiffe,
    tcp_echo_address,
)

GATEWAY_SA = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
PRODUCTPAGE_SA = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"

# Istio's label set of the HTTP metrics (istio_stats.cc), nothing more.
HTTP_LABELS = {
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
}

GATEWAY_TO_PRODUCTPAGE = {
    "source_workload": "istio-ingressgateway",
    "source_canonical_service": "istio-ingressgateway",
    "source_canonical_revision": "latest",
    "source_workload_namespace": "istio-system",
    "source_principal": GATEWAY_SA,
    "source_app": "istio-ingressgateway",
    "source_version": "unknown",
    "source_cluster": "Kubernetes",
    "destination_workload": "productpage-v1",
    "destination_workload_namespace": "default",
    "destination_principal": PRODUCTPAGE_SA,
    "destination_app": "productpage",
    "destination_version": "v1",
    "destination_service": "productpage.default.svc.cluster.local",
    "destination_canonical_service": "productpage",
    "destination_canonical_revision": "v1",
    "destination_service_name": "productpage",
    "destination_service_namespace": "default",
    "destination_cluster": "Kubernetes",
    "request_protocol": "http",
    "response_code": "200",
    "grpc_response_status": "",
    "response_flags": "-",
}


def _one(samples: list[Sample]) -> dict[str, str]:
    assert samples, "no such series"
    return dict(samples[0].labels)


async def _until(condition: Callable[[], Any], message: str, timeout: float = 30) -> None:
    # Scrapes are not free: poll every half second.
    await wait_for(condition, timeout=timeout, interval=0.5, message=message)


def _browse(mesh: LocalMesh, n: int = 10, path: str = "/productpage") -> list[int]:
    return [http_get(mesh.gateway_url(path))[0] for _ in range(n)]


async def test_gateway_and_productpage_report_both_sides_with_istio_labels(
    telemetry_mesh: LocalMesh,
) -> None:
    mesh = telemetry_mesh
    gateway, productpage = mesh.pod("istio-ingressgateway"), mesh.pod("productpage")
    assert set(await asyncio.to_thread(_browse, mesh)) == {200}
    source = {"reporter": "source", "destination_workload": "productpage-v1"}
    destination = {"reporter": "destination", "source_workload": "istio-ingressgateway"}
    await _until(
        lambda: (
            find(gateway, "istio_requests_total", **source)
            and find(productpage, "istio_requests_total", **destination)
        ),
        "istio_requests_total on the gateway (source) and productpage (destination)",
    )
    client_side = _one(find(gateway, "istio_requests_total", **source))
    server_side = _one(find(productpage, "istio_requests_total", **destination))
    assert set(client_side) == HTTP_LABELS
    assert set(server_side) == HTTP_LABELS
    # The client cannot tell the connection's security policy: Istio says unknown.
    assert client_side == {
        **GATEWAY_TO_PRODUCTPAGE,
        "reporter": "source",
        "connection_security_policy": "unknown",
    }
    assert server_side == {
        **GATEWAY_TO_PRODUCTPAGE,
        "reporter": "destination",
        "connection_security_policy": "mutual_tls",
    }
    # Durations and sizes: histograms with Istio's default buckets, counted per request.
    text = scrape_text(productpage)
    assert "# TYPE istio_request_duration_milliseconds histogram" in text
    assert "envoy_istio_" not in text
    for bound in (
        "0.5",
        "1",
        "5",
        "10",
        "25",
        "50",
        "100",
        "250",
        "500",
        "1000",
        "2500",
        "5000",
        "10000",
        "30000",
        "60000",
        "300000",
        "600000",
        "1800000",
        "3600000",
    ):
        assert f'le="{bound}"' in text
    for histogram in (
        "istio_request_duration_milliseconds",
        "istio_request_bytes",
        "istio_response_bytes",
    ):

        def counted(name: str = f"{histogram}_count") -> bool:
            found = find(productpage, name, **destination)
            return bool(found) and found[0].value >= 1

        await _until(counted, f"{histogram} counted on productpage")


async def test_every_bookinfo_hop_names_its_peer(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    ratings = mesh.pod("ratings")
    await asyncio.to_thread(_browse, mesh, 20)

    def reviews_to_ratings() -> list[Sample]:
        return [
            s
            for s in find(ratings, "istio_requests_total", reporter="destination")
            if s.label("source_workload") in ("reviews-v2", "reviews-v3")
        ]

    await _until(reviews_to_ratings, "ratings sees calls from reviews v2/v3")
    labels = dict(reviews_to_ratings()[0].labels)
    assert labels["source_app"] == "reviews"
    assert labels["source_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert labels["destination_workload"] == "ratings-v1"
    assert labels["destination_service"] == "ratings.default.svc.cluster.local"
    assert labels["connection_security_policy"] == "mutual_tls"
    productpage = mesh.pod("productpage")
    await _until(
        lambda: (
            {
                s.label("destination_workload")
                for s in find(productpage, "istio_requests_total", reporter="source")
            }
            >= {"details-v1", "reviews-v1", "reviews-v2", "reviews-v3"}
        ),
        "productpage reports calls to details and every reviews version",
    )
    for sample in find(productpage, "istio_requests_total", reporter="source"):
        assert sample.label("source_workload") == "productpage-v1"
        assert sample.label("source_principal") == PRODUCTPAGE_SA
        assert sample.label("destination_principal").startswith(
            "spiffe://cluster.local/ns/default/sa/bookinfo-"
        )


async def test_fault_abort_is_reported_with_fi(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    fault = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details-fault, namespace: default}
spec:
  hosts: [details]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: details}}]
"""
    path = Path(mesh.home.root) / "details-fault.yaml"
    path.write_text(fault)
    mesh.cli("apply", "-f", str(path), check=True)
    productpage = mesh.pod("productpage")
    try:

        def aborted() -> list[Sample]:
            return find(
                productpage,
                "istio_requests_total",
                reporter="source",
                destination_service_name="details",
                response_code="503",
            )

        async def browse_until_aborted() -> bool:
            await asyncio.to_thread(_browse, mesh, 2)
            return bool(aborted())

        await _until(browse_until_aborted, "productpage reports details' fault abort")
        labels = dict(aborted()[0].labels)
        assert labels["response_flags"] == "FI"
        # Envoy answered itself: no server, so its workload is unknown.
        assert labels["destination_workload"] == "unknown"
    finally:
        mesh.cli("delete", "virtualservices", "details-fault", check=True)


async def test_unmatched_route_is_reported_with_nr(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    gateway = mesh.pod("istio-ingressgateway")
    # bookinfo-gateway's VirtualService routes only BookInfo's paths.
    status, _ = await asyncio.to_thread(http_get, mesh.gateway_url("/no-such-page"))
    assert status == 404
    await _until(
        lambda: find(gateway, "istio_requests_total", reporter="source", response_flags="NR"),
        "the gateway reports the unmatched route",
    )
    labels = dict(find(gateway, "istio_requests_total", response_flags="NR")[0].labels)
    assert labels["response_code"] == "404"
    assert labels["destination_service"] == "unknown"


async def test_tcp_service_counts_connections_and_bytes(telemetry_mesh: LocalMesh) -> None:
    mesh = telemetry_mesh
    sleep, echo = mesh.pod("sleep"), mesh.pod("tcp-echo")
    address = tcp_echo_address(mesh)
    assert await asyncio.to_thread(echo_once, address) == "hello world\n"
    await _until(
        lambda: (
            find(sleep, "istio_tcp_connections_closed_total", reporter="source")
            and find(echo, "istio_tcp_connections_closed_total", reporter="destination")
        ),
        "both sides count the closed connection",
    )
    for pod, reporter in ((sleep, "source"), (echo, "destination")):
        opened = find(pod, "istio_tcp_connections_opened_total", reporter=reporter)
        assert opened and opened[0].value >= 1
        sent = find(pod, "istio_tcp_sent_bytes_total", reporter=reporter)
        received = find(pod, "istio_tcp_received_bytes_total", reporter=reporter)
        # "world\n" in, "hello world\n" out, on both sides of the hop.
        assert received[0].value >= len(b"world\n")
        assert sent[0].value >= len(b"hello world\n")
        labels = dict(sent[0].labels)
        assert labels["request_protocol"] == "tcp"
        assert labels["destination_service"] == "tcp-echo.default.svc.cluster.local"
        assert "response_code" not in labels
    server = dict(find(echo, "istio_tcp_sent_bytes_total", reporter="destination")[0].labels)
    assert server["source_principal"] == spiffe(sleep)
    assert server["connection_security_policy"] == "mutual_tls"
    assert server["destination_workload"] == "tcp-echo"
    # No TCP peer exchange: Istio's ``unknown`` for the peer's workload, never an empty label.
    client = dict(find(sleep, "istio_tcp_sent_bytes_total", reporter="source")[0].labels)
    assert client["source_workload"] == "sleep"
    for field in ("workload", "workload_namespace", "app", "version", "canonical_service"):
        assert server[f"source_{field}"] == "unknown", field
        assert client[f"destination_{field}"] == "unknown", field


def _istio_label(name: str) -> bool:
    """One of Istio's standard labels that is never empty (not ``grpc_response_status``, nor a
    tag another test adds through the Telemetry API)."""
    fixed = ("reporter", "request_protocol", "response_code", "response_flags")
    return name.startswith(("source_", "destination_")) or name in (
        *fixed,
        "connection_security_policy",
    )


async def test_no_istio_label_is_ever_empty(telemetry_mesh: LocalMesh) -> None:
    """Every pod's own ``:15090`` text, no Prometheus in between: an Istio label is a value or
    ``unknown``, never empty (``grpc_response_status`` alone is empty for non-gRPC, as in
    Istio), on HTTP and TCP, for both reporters; also for a caller without a sidecar that forges
    a peer header that does not decode."""
    mesh = telemetry_mesh
    await asyncio.to_thread(_browse, mesh, 3)
    await asyncio.to_thread(echo_once, tcp_echo_address(mesh))
    details = mesh.pod("details")
    forged = {"x-mainsail-peer": "forged;default;x;x;x;x;x"}
    status, _ = await asyncio.to_thread(
        http_get, f"http://{details.ip}:9080/details/0", headers=forged
    )
    assert status == 200

    def forged_counted() -> list[Sample]:
        return find(
            details,
            "istio_requests_total",
            reporter="destination",
            source_workload="unknown",
            source_principal="unknown",
        )

    await _until(forged_counted, "details counts the caller without a sidecar")
    assert {s.label("source_app") for s in forged_counted()} == {"unknown"}
    seen = 0
    for pod in mesh.pods():
        for sample in scrape(pod):
            if not sample.name.startswith("istio_") or sample.name.startswith("istio_agent"):
                continue
            empty = [k for k, v in sample.labels if not v and _istio_label(k)]
            assert not empty, (pod.name, sample.name, dict(sample.labels))
            seen += 1
    assert seen
