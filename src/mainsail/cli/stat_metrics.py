"""Re-exports of ``mainsail.telemetry`` (the parsing and arithmetic moved there so the dashboard
shares them); kept because ``mainsail stat`` and its tests import these names from here."""

from mainsail.telemetry.golden_signals import GoldenSignals, golden_signals, histogram_quantile
from mainsail.telemetry.prometheus_text import Labels, Sample, parse_prometheus_text, series

__all__ = [
    "GoldenSignals",
    "Labels",
    "Sample",
    "golden_signals",
    "histogram_quantile",
    "parse_prometheus_text",
    "series",
]
