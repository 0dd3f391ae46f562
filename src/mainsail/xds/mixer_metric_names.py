"""The names of the book's Mixer Prometheus metrics, as Mixer's adapter named them, and which
definition of a name wins on a proxy (``xds.mixer`` compiles them, ``xds.telemetry`` leaves
out a standard metric a handler redefines). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from mainsail.config.mixer.models import PrometheusMetric, PrometheusParams
from mainsail.config.mixer.resolve import ResolvedRule
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView

_SAFE = str.maketrans({"/": "_", ".": "_", " ": "_", "-": None})


def prometheus_stat_name(metric: PrometheusMetric) -> str:
    """The stat (in the ``istio`` scope, so ``istio_<name>`` on ``:15090``) as Mixer's adapter
    named it: ``name``, else ``instance_name``, with ``/ . space`` as ``_`` and ``-`` dropped."""
    return (metric.name or metric.instance_name).removeprefix("/").translate(_SAFE)


def metric_owners(rules: Sequence[ResolvedRule]) -> dict[str, tuple[str, ...]]:
    """Per stat name, the label names of its first definition by handler namespace and name.
    Mixer's adapter had one Prometheus registry: a second metric of the same name with other
    labels failed to register ("could not register metric") and the first one stayed."""
    found: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {}
    for rule in rules:
        for action in rule.actions:
            handler = action.handler
            if not isinstance(handler.params, PrometheusParams):
                continue
            key = (handler.namespace, handler.name)
            for metric in handler.params.metrics:
                name = prometheus_stat_name(metric)
                if name not in found or key < found[name][0]:
                    found[name] = (key, metric.label_names)
    return {name: labels for name, (_, labels) in found.items()}


def mixer_metric_names(snapshot: MeshSnapshot, view: ProxyView) -> frozenset[str]:
    """The stat names this proxy's Mixer prometheus handlers define (any listener, any rule
    match). Istio 1.0/1.1's standard metrics *were* such a handler's (``istio_requests_total``
    from ``requests_total``), so a pod had one metric of each name with one label set: where a
    handler defines a standard metric's name, the handler's replaces the standard one
    (``xds.telemetry``), so a Prometheus never sees one name with two label sets."""
    rules = [r for r in snapshot.mixer_rules if r.applies_to(view.node.namespace)]
    return frozenset(metric_owners(rules))
