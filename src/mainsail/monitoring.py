"""The control plane's own metrics, with istiod's names, in Prometheus' text format.

prometheus-client is not a dependency: counters, gauges and histograms with labels are a few
dozen lines, and the text exposition format (0.0.4) is simple. Each metric is process-wide (as
istiod's are) and is incremented where its event happens; ``render`` writes the page served at
``GET /metrics`` of the control plane's HTTP API.

Outside the layers (like ``naming``): the ADS server, the CA and the config store all count
here. Thread-safe: the CA signs in gRPC worker threads.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence

LabelValues = tuple[str, ...]

# istiod's push-time buckets (seconds), also used for convergence.
PUSH_BUCKETS: tuple[float, ...] = (0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, documentation: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(label_names)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(
                f"metric {self.name}: labels {sorted(labels)} given, "
                f"{sorted(self.label_names)} expected"
            )
        return tuple(labels[n] for n in self.label_names)

    def samples(self) -> list[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.documentation}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, documentation: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, label_names)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(Counter):
    """A value that goes up and down; or, with ``source``, read when rendered."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
    ) -> None:
        super().__init__(name, documentation, label_names)
        self._source: Callable[[], Mapping[LabelValues, float]] | None = None

    def set_source(self, source: Callable[[], Mapping[LabelValues, float]] | None) -> None:
        """Read the values from ``source`` at each render (e.g. connected proxies)."""
        self._source = source

    def dec(self, amount: float = 1, **labels: str) -> None:
        self.inc(-amount, **labels)

    def samples(self) -> list[str]:
        if self._source is None:
            return super().samples()
        items = sorted(self._source().items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = PUSH_BUCKETS,
    ) -> None:
        super().__init__(name, documentation, label_names)
        self.buckets = tuple(sorted(buckets))
        # labels -> (count per bucket, sum, count)
        self._values: dict[LabelValues, tuple[list[int], float, int]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total, count = self._values.get(key, ([0] * len(self.buckets), 0.0, 0))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            self._values[key] = (counts, total + value, count + 1)

    def count(self, **labels: str) -> int:
        with self._lock:
            found = self._values.get(self._key(labels))
        return found[2] if found else 0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), s, n)) for k, (c, s, n) in self._values.items())
        lines: list[str] = []
        for key, (counts, total, count) in items:
            for bound, seen in (*zip(self.buckets, counts, strict=True), (math.inf, count)):
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {seen}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {count}")
        return lines


XDS_CONNECTIONS = Gauge(
    "pilot_xds", "Number of endpoints connected to this pilot using XDS.", ("version",)
)
XDS_PUSHES = Counter(
    "pilot_xds_pushes",
    "Pilot build and send errors for lds, rds, cds and eds.",
    ("type",),
)
XDS_REJECTS = Counter(
    "pilot_total_xds_rejects",
    "Total number of XDS responses from pilot rejected by proxy.",
    ("type",),
)
PUSH_TIME = Histogram(
    "pilot_xds_push_time", "Total time in seconds Pilot takes to push lds, rds, cds and eds."
)
CONVERGENCE_TIME = Histogram(
    "pilot_proxy_convergence_time",
    "Delay in seconds between config change and a proxy receiving all required configuration.",
)
CONFIG_EVENTS = Counter("pilot_k8s_cfg_events", "Events from k8s config.", ("type", "event"))
CSR_COUNT = Counter("citadel_server_csr_count", "The number of CSRs received by Citadel server.")
CERT_ISSUANCE = Counter(
    "citadel_server_success_cert_issuance_count",
    "The number of certificates issuances that have succeeded.",
)

METRICS: tuple[_Metric, ...] = (
    XDS_CONNECTIONS,
    XDS_PUSHES,
    XDS_REJECTS,
    PUSH_TIME,
    CONVERGENCE_TIME,
    CONFIG_EVENTS,
    CSR_COUNT,
    CERT_ISSUANCE,
)

# xDS type URLs → istiod's short type labels.
_TYPE_LABELS = {
    "Cluster": "cds",
    "ClusterLoadAssignment": "eds",
    "Listener": "lds",
    "RouteConfiguration": "rds",
    "Secret": "sds",
}


def xds_type(type_url: str) -> str:
    """``cds``/``eds``/``lds``/``rds``/``sds`` for a type URL (else its message name)."""
    message = type_url.rsplit(".", 1)[-1]
    return _TYPE_LABELS.get(message, message)


def render() -> str:
    """The Prometheus text page of every control-plane metric."""
    return "".join(metric.render() for metric in METRICS)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# --- one-line hooks for the places events happen -------------------------------------------


def xds_sent(responses: Sequence[object]) -> None:
    """Responses written to a proxy (``pilot_xds_pushes{type}``)."""
    for response in responses:
        XDS_PUSHES.inc(type=xds_type(str(getattr(response, "type_url", ""))))


def proxy_connected(extra: Sequence[tuple[str, str]], delta: int) -> None:
    """A proxy connected (+1) or went away (-1); ``extra``: its node metadata pairs."""
    XDS_CONNECTIONS.inc(delta, version=dict(extra).get("ISTIO_VERSION") or "unknown")


_EVENTS = {"created": "add", "configured": "update", "deleted": "delete"}


def config_changed(changes: Sequence[tuple[str, str]]) -> None:
    """Config store changes as (kind, outcome) (``pilot_k8s_cfg_events{type,event}``)."""
    for kind, outcome in changes:
        if outcome in _EVENTS:
            CONFIG_EVENTS.inc(type=kind, event=_EVENTS[outcome])


def pushed(responses: Sequence[object], now: float, started: float, changed: float | None) -> None:
    """A push to one proxy: its responses, its time (``pilot_xds_push_time``, from ``started``)
    and the delay since the config change it carries (``pilot_proxy_convergence_time``; None
    for a proxy's first push)."""
    xds_sent(responses)
    PUSH_TIME.observe(max(now - started, 0.0))
    if changed is not None:
        CONVERGENCE_TIME.observe(max(now - changed, 0.0))
