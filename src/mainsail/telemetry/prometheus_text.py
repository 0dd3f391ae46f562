"""Prometheus text exposition (what Envoy's ``:15090/stats/prometheus`` serves) → samples.

Pure. Only the sample lines are read: ``# HELP``/``# TYPE`` comments and malformed lines are
skipped, label values are unescaped as the exposition format escapes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str:
        return dict(self.labels).get(key, "")


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse_prometheus_text(text: str) -> list[Sample]:
    """Every sample line; comments and malformed lines are skipped."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, raw_labels, raw_value = match.groups()
        try:
            value = float(raw_value)
        except ValueError:
            continue
        labels = tuple((k, _unescape(v)) for k, v in _LABEL.findall(raw_labels or ""))
        samples.append(Sample(name, labels, value))
    return samples


def series(samples: Iterable[Sample], name: str, **match: str) -> list[Sample]:
    """Samples of metric ``name`` whose labels include every ``match`` pair."""
    return [
        s
        for s in samples
        if s.name == name and all(dict(s.labels).get(k) == v for k, v in match.items())
    ]
