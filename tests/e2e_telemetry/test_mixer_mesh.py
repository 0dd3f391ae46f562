"""The book's Prometheus Mixer example applied to the running BookInfo mesh with ``mainsail
apply``, as the book does: every sidecar starts reporting the handler's metrics on its
``:15090`` page (the book's label set: ``source_namespace``, ``connection_mtls``…) in place of
Istio's standard metrics of the same names (in Istio 1.0/1.1 the standard metrics *were* this
handler's: one label set per name), next to the standard ones it does not name, and stops when
the config is deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainsail.cli.mesh import demo_files
from mainsail.cli.stat_metrics import Sample
from mainsail.testing.fluentd import FluentdReceiver
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.mesh import LocalMesh, http_get
from mainsail.testing.waiting import wait_for
from tests.e2e_telemetry.helpers import find

BOOK = Path(__file__).parents[2] / "src" / "mainsail" / "samples" / "book" / "telemetry"
EXAMPLE = ("01-prometheus-handler.yaml", "02-metric-instances.yaml", "03-prometheus-rules.yaml")


@pytest.fixture(scope="module")
def mixer_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    """A BookInfo mesh of its own: Envoy keeps the book's series after the config is deleted,
    and they share names with Istio's standard metrics, which the shared telemetry mesh's
    Prometheus test must not see."""
    with LocalMesh(list(demo_files()), tmp_path_factory.mktemp("mixer")) as mesh:
        yield mesh


async def test_book_prometheus_example_applies_to_the_running_mesh(
    mixer_mesh: LocalMesh,
) -> None:
    mesh = mixer_mesh
    for name in EXAMPLE:
        mesh.cli("apply", "-f", str(BOOK / name), check=True)
    reviews = mesh.pod("reviews-v1")
    try:

        def book_series() -> list[Sample]:
            # The book's requests_total has connection_mtls, Istio's standard one does not.
            return [
                s
                for s in find(
                    reviews,
                    "istio_requests_total",
                    reporter="destination",
                    destination_workload="reviews-v1",
                    source_workload="productpage-v1",
                )
                if "connection_mtls" in dict(s.labels)
            ]

        async def browse() -> bool:
            for _ in range(3):
                await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
            return bool(await asyncio.to_thread(book_series))

        await wait_for(browse, timeout=60, interval=1.0, message="the book's requests_total")
        labels = dict(book_series()[0].labels)
        assert labels["source_app"] == "productpage"
        assert labels["source_namespace"] == "default"
        assert labels["destination_app"] == "reviews"
        assert labels["destination_namespace"] == "default"
        assert labels["destination_service_name"] == "reviews"
        assert labels["request_protocol"] == "http"
        assert labels["response_code"] == "200"
        assert labels["connection_mtls"] in ("true", "false")
        mtls = labels["connection_mtls"]

        def sizes() -> list[Sample]:
            # A DISTRIBUTION: histograms reach the page at Envoy's stats flush (5 s).
            return find(reviews, "istio_request_bytes_count", connection_mtls=mtls)

        await wait_for(sizes, timeout=30, interval=1.0, message="the book's request_bytes")

        # The handler replaces the standard metrics of its names: with the example in place
        # no standard-labelled istio_requests_total grows, and once the listeners from before
        # the apply have drained (their stats go with them) the page has one label set per
        # name; the standard ms histogram (a name the handler does not define) still grows.
        def totals() -> tuple[float, float, float]:
            requests = find(reviews, "istio_requests_total", reporter="destination")
            book = sum(s.value for s in requests if "connection_mtls" in dict(s.labels))
            standard = sum(s.value for s in requests if "connection_mtls" not in dict(s.labels))
            durations = find(
                reviews, "istio_request_duration_milliseconds_count", reporter="destination"
            )
            return book, standard, sum(s.value for s in durations)

        before = await asyncio.to_thread(totals)

        async def more() -> bool:
            await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
            now = await asyncio.to_thread(totals)
            assert now[1] <= before[1], (before, now)
            return now[0] >= before[0] + 3 and now[2] >= before[2] + 3

        await wait_for(more, timeout=60, interval=1.0, message="three more book requests")

        def one_label_set() -> bool:
            return all(
                "connection_mtls" in dict(s.labels)
                for name in ("istio_requests_total", "istio_request_bytes_count")
                for s in find(reviews, name)
            )

        await wait_for(one_label_set, timeout=90, interval=1.0, message="one label set per name")
    finally:
        for name in reversed(EXAMPLE):
            mesh.cli("delete", "-f", str(BOOK / name), check=True)


async def test_book_fluentd_example_applies_to_the_running_mesh(
    mixer_mesh: LocalMesh, tmp_path: Path
) -> None:
    mesh = mixer_mesh
    async with FluentdReceiver(host=random_loopback_address()) as fluentd:
        # As written, but for the address: our receiver, not a fluentd on localhost:24224.
        text = (BOOK / "04-fluentd-logentry.yaml").read_text()
        example = tmp_path / "fluentd.yaml"
        example.write_text(text.replace("localhost:24224", f"{fluentd.host}:{fluentd.port}"))
        mesh.cli("apply", "-f", str(example), check=True)
        try:

            async def logged() -> bool:
                await asyncio.to_thread(http_get, mesh.gateway_url("/productpage"))
                return any(r.record.get("destination") == "ratings" for r in fluentd.records)

            await wait_for(logged, timeout=60, interval=1.0, message="fluentd records of ratings")
        finally:
            mesh.cli("delete", "-f", str(example), check=True)
    assert not fluentd.errors
    assert {r.tag for r in fluentd.records} == {"istiolog.logentry.istio-system"}
    record = next(r.record for r in fluentd.records if r.record.get("destination") == "ratings")
    assert record["severity"] == "warning"
    assert record["source"] == "reviews"
