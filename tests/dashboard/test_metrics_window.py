"""The metrics window: reduction of a scrape, increases between scrapes (counter resets as
Prometheus' rate() treats them), pods that do not answer, the bounded ring."""

from __future__ import annotations

import pytest

from mainsail.dashboard.metrics_window import MetricsWindow, PodScrape, reduce_scrape
from tests.dashboard.synthetic import Page, caller, server

PRODUCTPAGE = caller("default", "productpage-v1", "productpage")
REVIEWS_V1 = server("default", "reviews-v1", "reviews", "reviews")


def reviews_page(count: float, errors: float = 0.0) -> PodScrape:
    page = Page().requests(count, **PRODUCTPAGE, **REVIEWS_V1)
    if errors:
        page.requests(errors, response_code="503", **PRODUCTPAGE, **REVIEWS_V1)
    return reduce_scrape(page.text())


def requests_total(window: MetricsWindow, seconds: float = 3600) -> float:
    totals = window.totals(seconds)
    return sum(v for k, v in totals.counters.items() if k.metric == "requests")


def test_reduce_keeps_istio_metrics_with_the_graph_labels() -> None:
    text = (
        Page()
        .requests(7, **PRODUCTPAGE, **REVIEWS_V1)
        .durations([3, 30], **PRODUCTPAGE, **REVIEWS_V1)
        .text()
    )
    scrape = reduce_scrape(text)
    [(key, value)] = scrape.counters.items()
    assert value == 7
    assert (key.metric, key.reporter, key.source_workload, key.destination_service_name) == (
        "requests",
        "destination",
        "productpage-v1",
        "reviews",
    )
    assert key.response_code == "200" and key.response_flags == "-"
    [(hist, buckets)] = scrape.histograms.items()
    assert hist.destination_workload == "reviews-v1"
    # Cumulative as scraped: 3 ms falls in le=5, 30 ms in le=50.
    assert list(buckets[:7]) == [0, 0, 1, 1, 1, 2, 2]


def test_series_that_collapse_onto_one_key_are_summed() -> None:
    page = Page()
    page.requests(2, source_canonical_revision="v1", **PRODUCTPAGE, **REVIEWS_V1)
    page.requests(3, source_canonical_revision="v2", **PRODUCTPAGE, **REVIEWS_V1)
    assert list(reduce_scrape(page.text()).counters.values()) == [5]


def test_first_scrape_is_a_baseline_then_increases_count() -> None:
    window = MetricsWindow(history=60, interval=1)
    window.ingest(100.0, {"default.reviews": reviews_page(10)})
    assert len(window) == 0 and requests_total(window) == 0
    window.ingest(101.0, {"default.reviews": reviews_page(14)})
    window.ingest(102.0, {"default.reviews": reviews_page(20)})
    assert requests_total(window) == 10
    totals = window.totals(60)
    assert totals.seconds == 2.0


def test_a_counter_reset_counts_the_new_value_as_the_increase() -> None:
    window = MetricsWindow(history=60, interval=1)
    window.ingest(100.0, {"p": reviews_page(50)})
    window.ingest(101.0, {"p": reviews_page(60)})
    window.ingest(102.0, {"p": reviews_page(4)})  # the Envoy restarted: 4 since then
    window.ingest(103.0, {"p": reviews_page(9)})
    assert requests_total(window) == 10 + 4 + 5


def test_histogram_reset_and_per_bucket_storage() -> None:
    window = MetricsWindow(history=60, interval=1)

    def page(observations: list[float]) -> PodScrape:
        return reduce_scrape(Page().durations(observations, **PRODUCTPAGE, **REVIEWS_V1).text())

    window.ingest(1.0, {"p": page([2, 2, 40])})
    window.ingest(2.0, {"p": page([2, 2, 40, 40, 400])})
    window.ingest(3.0, {"p": page([3])})  # reset
    [buckets] = window.totals(60).histograms.values()
    assert buckets[2] == 1  # le=5: the 3 ms after the reset
    assert buckets[5] == 1  # le=50: one more 40 ms
    assert buckets[8] == 1  # le=500: the 400 ms
    assert sum(buckets) == 3


def test_a_series_created_since_the_previous_scrape_counts_from_zero() -> None:
    window = MetricsWindow(history=60, interval=1)
    window.ingest(1.0, {"p": reviews_page(10)})
    window.ingest(2.0, {"p": reviews_page(12, errors=3)})
    codes = {k.response_code: v for k, v in window.totals(60).counters.items()}
    assert codes == {"200": 2, "503": 3}


def test_a_pod_that_does_not_answer_adds_nothing_and_keeps_its_baseline() -> None:
    window = MetricsWindow(history=60, interval=1)
    window.ingest(1.0, {"a": reviews_page(10), "b": reviews_page(100)})
    window.ingest(2.0, {"a": reviews_page(11), "b": None})
    assert requests_total(window) == 1
    window.ingest(3.0, {"a": reviews_page(12), "b": reviews_page(105)})
    assert requests_total(window) == 1 + 1 + 5
    # A pod gone from the list is forgotten: when it comes back its first scrape is a baseline.
    window.ingest(4.0, {"a": reviews_page(12)})
    window.ingest(5.0, {"a": reviews_page(12), "b": reviews_page(500)})
    assert requests_total(window) == 7


def test_window_selects_recent_slots_and_the_ring_is_bounded() -> None:
    window = MetricsWindow(history=10, interval=1)
    count = 0
    window.ingest(0.0, {"p": reviews_page(0)})
    for t in range(1, 31):
        count += t  # t requests in second t
        window.ingest(float(t), {"p": reviews_page(count)})
    assert len(window) == 10
    assert requests_total(window, 3) == 30 + 29 + 28
    assert window.totals(3).seconds == 3
    assert requests_total(window) == sum(range(21, 31))
    # Slots older than the history are dropped even if the ring is not full.
    assert all(s.end > 20 for s in window.slots(0))


def test_compaction_forgets_dead_keys_and_keeps_the_numbers() -> None:
    window = MetricsWindow(history=3, interval=1)
    window.ingest(0.0, {"p": reviews_page(0, errors=0.5)})
    window.ingest(1.0, {"p": reviews_page(1, errors=1)})
    for t in range(2, 12):
        window.ingest(
            float(t), {"p": reduce_scrape(Page().requests(t, **PRODUCTPAGE, **REVIEWS_V1).text())}
        )
    codes = {k.response_code: v for k, v in window.totals(60).counters.items()}
    assert codes == {"200": 3}
    assert len(window._keys) == 1


@pytest.mark.parametrize("when", [5.0, 4.0])
def test_a_clock_that_does_not_advance_adds_no_slot(when: float) -> None:
    window = MetricsWindow(history=60, interval=1)
    window.ingest(5.0, {"p": reviews_page(1)})
    window.ingest(when, {"p": reviews_page(3)})
    assert len(window) == 0


def test_older_slots_are_merged_into_blocks_that_keep_the_rates() -> None:
    window = MetricsWindow(history=600, interval=1, fine_seconds=10, coarse_seconds=5)
    window.ingest(100.0, {"p": reviews_page(0)})
    for t in range(1, 61):
        window.ingest(100.0 + t, {"p": reviews_page(3 * t)})  # 3 requests a second
    fine = [s for s in window.slots(0) if s.seconds == 1]
    blocks = [s for s in window.slots(0) if s.seconds > 1]
    assert len(fine) == 10
    assert [b.seconds for b in blocks] == [5.0] * 10  # (100, 105], (105, 110], …
    assert requests_total(window) == 180
    totals = window.totals(30)
    # 30 s back ends inside a block: the whole block counts, and so does its time.
    assert totals.seconds == 30 and requests_total(window, 30) == 90
    assert requests_total(window, 32) == 3 * 35 and window.totals(32).seconds == 35


def test_series_through_blocks_have_no_gaps() -> None:
    from mainsail.dashboard.signals import series, service_selection

    window = MetricsWindow(history=600, interval=1, fine_seconds=10, coarse_seconds=5)
    window.ingest(100.0, {"p": reviews_page(0)})
    for t in range(1, 61):
        window.ingest(100.0 + t, {"p": reviews_page(2 * t)})
    points = series(window.slots(0), window.sum_slots, service_selection("default", "reviews"),
                    start=102.0, end=160.0, step=2.0)  # fmt: skip
    assert [v for _, v in points["rps"]] == [2.0] * 30


def test_running_sums_equal_fresh_sums_through_merges_resets_and_compaction() -> None:
    import random

    rnd = random.Random(3)
    window = MetricsWindow(history=40, interval=1, fine_seconds=10, coarse_seconds=4)
    counts = {"a": 0.0, "b": 0.0}
    for t in range(120):
        scrapes: dict[str, PodScrape | None] = {}
        for pod in counts:
            if rnd.random() < 0.1:
                counts[pod] = rnd.randint(0, 3)  # a restart
            else:
                counts[pod] += rnd.randint(0, 5)
            errors = rnd.randint(0, 2) if t % 30 < 15 else 0  # a series that comes and goes
            scrapes[pod] = None if rnd.random() < 0.1 else reviews_page(counts[pod], errors)
        window.ingest(float(t), scrapes)
        for seconds in (3, 7, 25, 40):
            latest = window.latest or 0.0
            fresh = window.sum_slots(s for s in window.slots(latest - seconds) if s.end <= latest)
            running = window.totals(seconds)
            assert running.counters == fresh.counters, (t, seconds)
            assert running.seconds == fresh.seconds


def test_filtered_sums_read_only_the_selected_keys() -> None:
    window = MetricsWindow(history=60, interval=1)
    other = server("default", "details-v1", "details", "details")
    for t in range(5):
        page = (
            Page()
            .requests(2 * t, **PRODUCTPAGE, **REVIEWS_V1)
            .requests(7 * t, **PRODUCTPAGE, **other)
        )
        page.durations([3.0] * t, **PRODUCTPAGE, **REVIEWS_V1).durations(
            [300.0] * t, **PRODUCTPAGE, **other
        )
        window.ingest(float(t), {"p": reduce_scrape(page.text())})
    found = window.sum_slots(
        window.slots(0),
        lambda k: k.destination_service_name == "reviews",
        lambda h: h.destination_service_name == "reviews",
    )
    assert list(found.counters.values()) == [8]
    [buckets] = found.histograms.values()
    assert buckets[2] == 4 and sum(buckets) == 4


def test_a_memo_of_label_texts_gives_the_same_reduction() -> None:
    text = (
        Page()
        .requests(7, **PRODUCTPAGE, **REVIEWS_V1)
        .durations([3, 30], **PRODUCTPAGE, **REVIEWS_V1)
        .text()
    )
    memo: dict[str, object] = {}
    first = reduce_scrape(text, memo)  # type: ignore[arg-type]
    assert len(memo) == 1 + 1  # the counter and the histogram (one entry for its 20 buckets)
    again = reduce_scrape(text.replace("} 7", "} 9"), memo)  # type: ignore[arg-type]
    assert first == reduce_scrape(text)
    assert list(again.counters.values()) == [9]
    assert again.histograms == first.histograms
