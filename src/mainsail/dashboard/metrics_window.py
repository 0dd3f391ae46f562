"""The metrics window: what the last ``history`` seconds of Envoy scrapes say, kept small.

Each scrape of a pod's ``/stats/prometheus``, reduced to Istio's standard metrics
(``dashboard.series_keys``), is turned into *increases* since that pod's
previous scrape, as Prometheus' ``rate()`` does: a counter that went down was reset (its Envoy
restarted) and its new value is the increase. A series that appears in a pod already scraped
counts from zero (it was created since), which Prometheus only guesses at; a pod's first scrape
is its baseline. The increases of all pods are summed per key into one slot per scrape; a slot
holds only non-zero increases, as two parallel arrays (interned key ids, values), and histogram
buckets are stored per bucket (not cumulative), so a request adds one entry, not twenty.

One writer: ``prepare`` runs in the scraper's worker thread and only adds keys and swaps in new
baselines; ``commit`` and every reader run on the control plane's event loop.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from mainsail.dashboard.series_keys import (
    BUCKET_BOUNDS,
    HistogramKey,
    PodScrape,
    SeriesKey,
    reduce_scrape,
)

# A histogram key id and its bucket index share one uint32: id * _BUCKET_SLOTS + bucket.
_BUCKET_SLOTS = 32


def _per_bucket(cumulative: Sequence[float]) -> tuple[float, ...]:
    """Cumulative ``le`` counts → counts per bucket (what a slot stores)."""
    previous = 0.0
    found = []
    for count in cumulative:
        found.append(max(count - previous, 0.0))
        previous = max(previous, count)
    return tuple(found)


def _increase(new: float, old: float | None) -> float:
    if old is None:
        return new  # created since the pod's previous scrape
    return new - old if new >= old else new  # a reset: the new value is all increase


@dataclass(frozen=True, slots=True)
class Slot:
    """The increases between two scrapes: ``end`` (unix seconds) and the ``seconds`` covered."""

    end: float
    seconds: float
    counter_ids: array[int]
    counter_values: array[float]
    bucket_codes: array[int]
    bucket_values: array[float]


def _merged(first: Slot, second: Slot) -> Slot:
    """One slot for two consecutive ones: their increases summed, their spans joined."""
    counters: dict[int, float] = dict(zip(first.counter_ids, first.counter_values, strict=True))
    for kid, value in zip(second.counter_ids, second.counter_values, strict=True):
        counters[kid] = counters.get(kid, 0.0) + value
    buckets: dict[int, float] = dict(zip(first.bucket_codes, first.bucket_values, strict=True))
    for code, value in zip(second.bucket_codes, second.bucket_values, strict=True):
        buckets[code] = buckets.get(code, 0.0) + value
    return _slot(second.end, first.seconds + second.seconds, counters, buckets)


def _slot(
    end: float, seconds: float, counters: dict[int, float], buckets: dict[int, float]
) -> Slot:
    """A slot with its ids sorted (``sum_slots`` looks keys up by bisection)."""
    ordered = sorted(counters.items())
    codes = sorted(buckets.items())
    return Slot(
        end=end,
        seconds=seconds,
        counter_ids=array("I", (k for k, _ in ordered)),
        counter_values=array("f", (v for _, v in ordered)),
        bucket_codes=array("I", (k for k, _ in codes)),
        bucket_values=array("f", (v for _, v in codes)),
    )


def _summed(slots: Iterable[Slot]) -> tuple[dict[int, float], dict[int, float], float]:
    counters: dict[int, float] = {}
    buckets: dict[int, float] = {}
    covered = 0.0
    for slot in slots:
        covered += slot.seconds
        _add(counters, slot.counter_ids, slot.counter_values, 1.0)
        _add(buckets, slot.bucket_codes, slot.bucket_values, 1.0)
    return counters, buckets, covered


def _add(into: dict[int, float], ids: array[int], values: array[float], sign: float) -> None:
    get = into.get
    for kid, value in zip(ids, values, strict=True):
        into[kid] = get(kid, 0.0) + sign * value


# Window lengths whose running sums are kept (the pages use a handful).
_RUNNING_SUMS = 8


@dataclass
class _Running:
    """The sums over one window length, with the slots they include (by identity). Values are
    float32 integers summed in float64, so taking a slot out again is exact."""

    counters: dict[int, float]
    buckets: dict[int, float]
    seconds: float
    slots: list[Slot]

    def move_to(self, wanted: list[Slot]) -> None:
        now = {id(s) for s in wanted}
        before = {id(s) for s in self.slots}
        for slot in self.slots:
            if id(slot) not in now:
                _add(self.counters, slot.counter_ids, slot.counter_values, -1.0)
                _add(self.buckets, slot.bucket_codes, slot.bucket_values, -1.0)
                self.seconds -= slot.seconds
        for slot in wanted:
            if id(slot) not in before:
                _add(self.counters, slot.counter_ids, slot.counter_values, 1.0)
                _add(self.buckets, slot.bucket_codes, slot.bucket_values, 1.0)
                self.seconds += slot.seconds
        self.slots = wanted
        if len(self.counters) > 4 * max(1, sum(len(s.counter_ids) for s in wanted[-1:])):
            # Keys that left the window linger as zeros; drop them now and then.
            self.counters = {k: v for k, v in self.counters.items() if v}
            self.buckets = {k: v for k, v in self.buckets.items() if v}


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Increases summed over some slots: counters by key, per-bucket counts by histogram."""

    seconds: float
    counters: Mapping[SeriesKey, float]
    histograms: Mapping[HistogramKey, tuple[float, ...]]


@dataclass
class MetricsWindow:
    """Slots covering at most ``history`` seconds (mutable: the scraper's state).

    The last ``fine_seconds`` keep one slot per scrape; older ones are merged into blocks of
    ``coarse_seconds`` (aligned on the clock), which is all a 30-minute chart needs and keeps a
    long window cheap to sum: 30 minutes at 5 s are 60 slots and 25 blocks, not 360 slots.
    """

    history: float = 1800.0
    interval: float = 5.0
    fine_seconds: float = 300.0
    coarse_seconds: float = 60.0
    _fine: deque[Slot] = field(default_factory=deque)
    _coarse: deque[Slot] = field(default_factory=deque)
    _last: dict[str, PodScrape] = field(default_factory=dict)
    _last_time: float | None = None
    _keys: list[SeriesKey | HistogramKey] = field(default_factory=list)
    _ids: dict[SeriesKey | HistogramKey, int] = field(default_factory=dict)
    _appended: int = 0
    _running: dict[float, _Running] = field(default_factory=dict)

    @property
    def capacity(self) -> int:
        return max(1, math.ceil(self.history / self.interval))

    def ingest(self, when: float, scrapes: Mapping[str, PodScrape | None]) -> None:
        """One round of scrapes at ``when``: pod key → its page (None: it did not answer, so it
        adds nothing and keeps its last values). Pods not in ``scrapes`` are gone."""
        self.commit(self.prepare(when, scrapes))

    def prepare(self, when: float, scrapes: Mapping[str, PodScrape | None]) -> Slot | None:
        """The increases of one round (the costly half of ``ingest``: the scraper runs it in a
        worker thread). It only adds keys and replaces pods' baselines, which readers on the
        event loop never iterate; ``commit`` then adds the slot there."""
        # A new dict, swapped in at the end: ``known_series`` may be reading the old one on the
        # event loop while this runs in the scraper's thread.
        last = {pod: found for pod, found in self._last.items() if pod in scrapes}
        counters: dict[int, float] = {}
        buckets: dict[int, float] = {}
        for pod, scrape in scrapes.items():
            if scrape is None:
                continue
            before = last.get(pod)
            last[pod] = scrape
            if before is None:
                continue  # a pod's first scrape is its baseline
            old_counters = before.counters
            for key, value in scrape.counters.items():
                delta = _increase(value, old_counters.get(key))
                if delta > 0:
                    kid = self._intern(key)
                    counters[kid] = counters.get(kid, 0.0) + delta
            old_histograms = before.histograms
            for hist, cumulative in scrape.histograms.items():
                old = old_histograms.get(hist)
                if old is not None and old == cumulative:
                    continue  # nothing observed since (the common case)
                if old is None or cumulative[-1] < old[-1]:
                    now = _per_bucket(cumulative)  # new, or reset: all of it is increase
                else:
                    now = _per_bucket(tuple(a - b for a, b in zip(cumulative, old, strict=True)))
                base = self._intern(hist) * _BUCKET_SLOTS
                for index, delta in enumerate(now):
                    if delta > 0:
                        buckets[base + index] = buckets.get(base + index, 0.0) + delta
        self._last = last
        previous, self._last_time = self._last_time, when
        if previous is None or when <= previous:
            return None
        return _slot(when, when - previous, counters, buckets)

    def commit(self, slot: Slot | None) -> None:
        """Add a prepared slot, merge what left the fine part into blocks and drop what fell
        out of the history (on the readers' loop)."""
        if slot is None:
            return
        self._fine.append(slot)
        while self._fine and self._fine[0].end <= slot.end - self.fine_seconds:
            old = self._fine.popleft()
            last = self._coarse[-1] if self._coarse else None
            if last is not None and self._block(last) == self._block(old):
                self._coarse[-1] = _merged(last, old)
            else:
                self._coarse.append(old)
        horizon = slot.end - self.history
        while self._coarse and self._coarse[0].end <= horizon:
            self._coarse.popleft()
        while self._fine and (self._fine[0].end <= horizon or len(self._fine) > self.capacity):
            self._fine.popleft()
        self._appended += 1
        if self._appended >= self.capacity:
            self._compact()

    def _block(self, slot: Slot) -> int:
        # The block a slot belongs to: by the clock, so blocks are the same whoever asks.
        return math.floor((slot.end - 1e-6) / self.coarse_seconds)

    def _intern(self, key: SeriesKey | HistogramKey) -> int:
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self._keys)
            self._keys.append(key)
        return found

    def _compact(self) -> None:
        """Forget keys no slot mentions any more (series of pods long gone), renumbering."""
        self._appended = 0
        every = (*self._coarse, *self._fine)
        live_counters = {i for s in every for i in s.counter_ids}
        live_hists = {c // _BUCKET_SLOTS for s in every for c in s.bucket_codes}
        live = sorted(live_counters | live_hists)
        if len(live) == len(self._keys):
            return
        renumber = {old: new for new, old in enumerate(live)}
        self._running.clear()  # their key ids are renumbered
        self._keys = [self._keys[i] for i in live]
        self._ids = {key: i for i, key in enumerate(self._keys)}
        self._coarse = self._renumbered(self._coarse, renumber)
        self._fine = self._renumbered(self._fine, renumber)

    @staticmethod
    def _renumbered(slots: deque[Slot], renumber: Mapping[int, int]) -> deque[Slot]:
        def recoded(code: int) -> int:
            return renumber[code // _BUCKET_SLOTS] * _BUCKET_SLOTS + code % _BUCKET_SLOTS

        return deque(
            _slot(
                s.end,
                s.seconds,
                {renumber[i]: v for i, v in zip(s.counter_ids, s.counter_values, strict=True)},
                {recoded(c): v for c, v in zip(s.bucket_codes, s.bucket_values, strict=True)},
            )
            for s in slots
        )

    # --- reading
    @property
    def latest(self) -> float | None:
        if self._fine:
            return self._fine[-1].end
        return self._coarse[-1].end if self._coarse else None

    def slots(self, since: float) -> Iterator[Slot]:
        """Slots (and blocks) that end after ``since``, oldest first. A block that straddles
        ``since`` is included whole: its rate is an average over its own span."""
        for part in (self._coarse, self._fine):
            yield from (s for s in part if s.end > since)

    def totals(self, seconds: float, now: float | None = None) -> WindowTotals:
        """Everything that happened in the last ``seconds`` (up to ``now``, default: the last
        scrape).

        Up to the last scrape, sums are kept per window length and brought up to date by the
        slots that came and went since the previous call (a merge into a block is one slot
        gone and one come), so the pages' polling costs two slots, not the whole window.
        """
        end = self.latest if now is None else now
        if end is None:
            return WindowTotals(seconds=0.0, counters={}, histograms={})
        wanted = [s for s in self.slots(end - seconds) if s.end <= end]
        if now is not None:
            return self._resolve(*_summed(wanted))
        running = self._running.pop(seconds, None)
        if running is None:
            running = _Running(*_summed(wanted), slots=wanted)
        else:
            running.move_to(wanted)
        self._running[seconds] = running  # most recently used last
        while len(self._running) > _RUNNING_SUMS:
            del self._running[next(iter(self._running))]
        return self._resolve(running.counters, running.buckets, running.seconds)

    def sum_slots(
        self,
        slots: Iterable[Slot],
        counter_filter: Callable[[SeriesKey], bool] | None = None,
        histogram_filter: Callable[[HistogramKey], bool] | None = None,
    ) -> WindowTotals:
        """The increases of ``slots`` for the keys the filters admit. With filters, only those
        keys are looked up in each slot (its ids are sorted): a service's chart reads a few
        entries per slot, not the mesh's."""
        chosen = list(slots)
        if counter_filter is None and histogram_filter is None:
            return self._resolve(*_summed(chosen))
        counter_ids = [
            i for i, key in enumerate(self._keys)
            if isinstance(key, SeriesKey) and (counter_filter is None or counter_filter(key))
        ]  # fmt: skip
        hist_ids = [
            i for i, key in enumerate(self._keys)
            if isinstance(key, HistogramKey) and (histogram_filter is None or histogram_filter(key))
        ]  # fmt: skip
        counters: dict[int, float] = {}
        buckets: dict[int, float] = {}
        covered = 0.0
        for slot in chosen:
            covered += slot.seconds
            ids, values = slot.counter_ids, slot.counter_values
            for kid in counter_ids:
                at = bisect_left(ids, kid)
                if at < len(ids) and ids[at] == kid:
                    counters[kid] = counters.get(kid, 0.0) + values[at]
            codes, bucket_values = slot.bucket_codes, slot.bucket_values
            for hid in hist_ids:
                base = hid * _BUCKET_SLOTS
                at = bisect_left(codes, base)
                while at < len(codes) and codes[at] < base + _BUCKET_SLOTS:
                    buckets[codes[at]] = buckets.get(codes[at], 0.0) + bucket_values[at]
                    at += 1
        return self._resolve(counters, buckets, covered)

    def _resolve(
        self, counters: Mapping[int, float], buckets: Mapping[int, float], seconds: float
    ) -> WindowTotals:
        """Key ids → keys; per-bucket codes → one row of buckets per histogram."""
        keys = self._keys
        found_counters: dict[SeriesKey, float] = {}
        for kid, value in counters.items():
            if value:
                key = keys[kid]
                assert isinstance(key, SeriesKey)
                found_counters[key] = value
        per_hist: dict[HistogramKey, list[float]] = {}
        for code, value in buckets.items():
            if not value:
                continue
            hist = keys[code // _BUCKET_SLOTS]
            assert isinstance(hist, HistogramKey)
            row = per_hist.get(hist)
            if row is None:
                row = per_hist[hist] = [0.0] * len(BUCKET_BOUNDS)
            row[code % _BUCKET_SLOTS] += value
        return WindowTotals(
            seconds=seconds,
            counters=found_counters,
            histograms={k: tuple(v) for k, v in per_hist.items()},
        )

    def known_series(self) -> set[SeriesKey]:
        """Every counter series the pods' last scrapes hold (moving or not)."""
        return {key for scrape in self._last.values() for key in scrape.counters}

    def __len__(self) -> int:
        return len(self._coarse) + len(self._fine)


__all__ = [
    "BUCKET_BOUNDS",
    "HistogramKey",
    "MetricsWindow",
    "PodScrape",
    "SeriesKey",
    "Slot",
    "WindowTotals",
    "reduce_scrape",
]
