"""Which Telemetry settings apply to a proxy, merged as istiod does (``pilot/pkg/model/
telemetry.go``: ``applicableTelemetries``, ``mergeMetrics``, ``mergeLogs``, ``Tracing``).

Scopes, in order (later ones win): the root namespace's mesh-wide Telemetry, the proxy's
namespace-wide one (each the oldest without selector or targetRefs), then the oldest workload
Telemetry of the proxy's namespace whose ``selector`` matches its labels. Telemetries attached by
``targetRef(s)`` (Gateway-API gateways and waypoints) select no sidecar or Istio gateway here.

- metrics: a level that names ``providers`` replaces its parent's (no deep merge), one that
  names none inherits them; overrides of every level apply in order, per mode and metric (a
  later ``disabled`` or tag wins; ``ALL_METRICS`` expands to every metric), and
  ``ALL_METRICS disabled`` drops the provider unless a later override turns something back on.
  No Telemetry metrics at all: MeshConfig ``defaultProviders.metrics`` (Istio's default
  ``prometheus``).
- access logging, per mode (client: sidecar outbound and gateways; server: sidecar inbound):
  providers inherit and replace as above; ``disabled`` removes them; a ``filter`` belongs to
  the providers its entry names. No Telemetry logging and no default providers: ``None``, the
  MeshConfig ``accessLogFile`` applies instead.
- tracing (translated by ``xds.telemetry_tracing``): client and server specs, first provider
  only, shallow merge of each field set; no provider means disabled.

Pure: reads the snapshot's Telemetries and MeshConfig and the proxy's namespace and labels; the
result is a frozen, hashable value (usable as a translation cache key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from mainsail.config.extension_providers import (
    EnvoyFileAccessLog,
    ExtensionProvider,
    PrometheusProvider,
)
from mainsail.config.istio.telemetry import (
    AccessLogging,
    CustomTag,
    Metrics,
    MetricSelector,
    ProviderRef,
    Telemetry,
    TelemetrySpec,
    Tracing,
    WorkloadMode,
)
from mainsail.config.mesh import MeshConfig

# Istio's metrics (``MetricSelector.IstioMetric`` without ALL_METRICS), sorted as istiod does.
ALL_METRICS: tuple[str, ...] = tuple(
    sorted(
        (
            "REQUEST_COUNT",
            "REQUEST_DURATION",
            "REQUEST_SIZE",
            "RESPONSE_SIZE",
            "TCP_OPENED_CONNECTIONS",
            "TCP_CLOSED_CONNECTIONS",
            "TCP_SENT_BYTES",
            "TCP_RECEIVED_BYTES",
            "GRPC_REQUEST_MESSAGES",
            "GRPC_RESPONSE_MESSAGES",
        )
    )
)
Mode = str  # "CLIENT" or "SERVER"
_MODES: tuple[Mode, Mode] = ("CLIENT", "SERVER")

# Istio's default MeshConfig providers (``DefaultMeshConfig``): user providers of the same name
# replace them.
BUILTIN_PROVIDERS: tuple[ExtensionProvider, ...] = (
    ExtensionProvider(name="prometheus", prometheus=PrometheusProvider()),
    ExtensionProvider(name="envoy", envoy_file_access_log=EnvoyFileAccessLog(path="/dev/stdout")),
)


@dataclass(frozen=True, slots=True)
class TagChange:
    """One ``tagOverrides`` entry: drop the tag, or set it to a CEL expression's value."""

    name: str
    remove: bool
    value: str = ""


@dataclass(frozen=True, slots=True)
class MetricOverride:
    metric: str  # an ALL_METRICS name or a customMetric
    disabled: bool
    tags: tuple[TagChange, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderMetrics:
    provider: str
    client: tuple[MetricOverride, ...] = ()
    server: tuple[MetricOverride, ...] = ()

    def for_mode(self, mode: Mode) -> Mapping[str, MetricOverride]:
        return {o.metric: o for o in (self.client if mode == "CLIENT" else self.server)}


@dataclass(frozen=True, slots=True)
class LogProvider:
    provider: str
    filter: str | None = None  # a CEL expression


@dataclass(frozen=True, slots=True)
class TracingSpec:
    provider: str | None = None
    disabled: bool = False
    random_sampling_percentage: float | None = None
    custom_tags: tuple[tuple[str, CustomTag], ...] = ()
    use_request_id_for_trace_sampling: bool = True
    enable_istio_tags: bool | None = None
    disable_context_propagation: bool | None = None


@dataclass(frozen=True, slots=True)
class TracingConfig:
    client: TracingSpec
    server: TracingSpec


@dataclass(frozen=True, slots=True)
class ResolvedTelemetry:
    """What applies to one proxy. ``scopes``: the (namespace, name) of the root, namespace and
    workload Telemetries that contributed (None where there was none)."""

    scopes: tuple[tuple[str, str] | None, tuple[str, str] | None, tuple[str, str] | None] = (
        None,
        None,
        None,
    )
    metrics: tuple[ProviderMetrics, ...] = ()
    reporting_interval: timedelta | None = None
    # None: no Telemetry access logging; MeshConfig ``accessLogFile`` applies.
    client_logs: tuple[LogProvider, ...] | None = None
    server_logs: tuple[LogProvider, ...] | None = None
    # None: no Telemetry tracing and no default tracing provider (MeshConfig tracing applies).
    tracing: TracingConfig | None = None

    def logs_for(self, mode: Mode) -> tuple[LogProvider, ...] | None:
        return self.client_logs if mode == "CLIENT" else self.server_logs


def default_metric_providers(mesh: MeshConfig) -> tuple[str, ...]:
    """MeshConfig ``defaultProviders.metrics``; unset is Istio's default ``[prometheus]``."""
    return mesh.default_providers.metrics or ("prometheus",)


def fetch_provider(mesh: MeshConfig, name: str) -> ExtensionProvider | None:
    """istiod's ``fetchProvider``: by name, case-insensitively; Istio's built-ins last."""
    for provider in (*mesh.extension_providers, *BUILTIN_PROVIDERS):
        if provider.name.lower() == name.lower():
            return provider
    return None


def _selects(telemetry: Telemetry, labels: Mapping[str, str]) -> bool:
    selector = telemetry.spec.selector
    if selector is None or not selector.match_labels:
        return False
    return all(labels.get(k) == v for k, v in selector.match_labels.items())


def _is_namespace_wide(spec: TelemetrySpec) -> bool:
    no_selector = spec.selector is None or not spec.selector.match_labels
    return no_selector and spec.target_ref is None and not spec.target_refs


def applicable(
    telemetries: Iterable[Telemetry], root_namespace: str, namespace: str, labels: Mapping[str, str]
) -> tuple[Telemetry | None, Telemetry | None, Telemetry | None]:
    """(root, namespace, workload) Telemetries of a proxy; ``telemetries`` oldest first."""
    root = own = workload = None
    for telemetry in telemetries:
        spec = telemetry.spec
        if telemetry.namespace == root_namespace and root is None and _is_namespace_wide(spec):
            root = telemetry
        if telemetry.namespace != namespace:
            continue
        if namespace != root_namespace and own is None and _is_namespace_wide(spec):
            own = telemetry
        if workload is None and _selects(telemetry, labels):
            workload = telemetry
    return root, own, workload


def _names(providers: Sequence[ProviderRef]) -> tuple[str, ...]:
    return tuple(p.name for p in providers)


def _modes(mode: WorkloadMode | None) -> tuple[Mode, ...]:
    return (mode,) if mode in _MODES else _MODES


def _metric_names(match: MetricSelector | None) -> tuple[str, ...]:
    if match is None:
        return ALL_METRICS
    if match.custom_metric is not None:
        return (match.custom_metric,)
    if match.metric is None or match.metric == "ALL_METRICS":
        return ALL_METRICS
    return (match.metric,)


def _is_all_metrics(match: MetricSelector | None) -> bool:
    return match is not None and match.custom_metric is None and match.metric == "ALL_METRICS"


def merge_metrics(metrics: Sequence[Metrics], mesh: MeshConfig) -> tuple[ProviderMetrics, ...]:
    """istiod's ``mergeMetrics``, per provider (sorted by name)."""
    defaults = default_metric_providers(mesh)
    # provider -> mode -> metric -> (disabled or None, tag -> change)
    merged: dict[str, dict[Mode, dict[str, tuple[bool | None, dict[str, TagChange]]]]] = {}
    if not metrics:
        merged = {p: {} for p in defaults}
    in_scope = set(defaults)
    for entry in metrics:
        if entry.providers:
            in_scope = set(_names(entry.providers))
    parents = defaults
    all_disabled: set[str] = set()
    for entry in metrics:
        names = _names(entry.providers) or parents
        parents = names
        for provider in names:
            if provider not in in_scope:
                continue  # a parent's provider a lower level replaced
            by_mode = merged.setdefault(provider, {"CLIENT": {}, "SERVER": {}})
            for override in entry.overrides:
                if _is_all_metrics(override.match) and override.disabled:
                    all_disabled.add(provider)
                    continue
                all_disabled.discard(provider)
                mode = override.match.mode if override.match is not None else None
                for each_mode in _modes(mode):
                    for metric in _metric_names(override.match):
                        disabled, tags = by_mode.setdefault(each_mode, {}).get(metric, (None, {}))
                        if override.disabled is not None:
                            disabled = override.disabled
                        tags = dict(tags)
                        for name, tag in override.tag_overrides.items():
                            remove = tag.effective_operation == "REMOVE"
                            tags[name] = TagChange(name, remove, "" if remove else tag.value or "")
                        by_mode[each_mode][metric] = (disabled, tags)
    result: list[ProviderMetrics] = []
    for provider in sorted(merged):
        if provider in all_disabled:
            continue
        per_mode = {
            mode: tuple(
                MetricOverride(metric, bool(disabled), tuple(tags[k] for k in sorted(tags)))
                for metric, (disabled, tags) in sorted(merged[provider].get(mode, {}).items())
            )
            for mode in _MODES
        }
        result.append(ProviderMetrics(provider, per_mode["CLIENT"], per_mode["SERVER"]))
    return tuple(result)


def _mode_matches(entry: AccessLogging, mode: Mode) -> bool:
    wanted = entry.match.mode if entry.match is not None else None
    return wanted in (None, "CLIENT_AND_SERVER") or wanted == mode


def merge_logs(
    levels: Sequence[Sequence[AccessLogging]], mesh: MeshConfig, mode: Mode
) -> tuple[LogProvider, ...] | None:
    """istiod's ``mergeLogs`` for one mode; ``levels``: the non-empty ``accessLogging`` lists
    of the applicable Telemetries, root first."""
    defaults = mesh.default_providers.access_logging
    if not levels:
        return tuple(LogProvider(p) for p in sorted(defaults)) if defaults else None
    in_scope = set(defaults)
    filters: dict[str, str] = {}
    for entries in levels:
        named: set[str] = set()
        for entry in entries:
            if not _mode_matches(entry, mode):
                continue
            names = _names(entry.providers)
            named.update(names)
            if entry.filter is not None:
                for name in names:
                    filters[name] = entry.filter.expression
        if named:
            in_scope = named
    chosen: dict[str, str | None] = {}
    parents = defaults
    for entries in levels:
        for entry in entries:
            names = _names(entry.providers) or parents
            parents = names
            for provider in names:
                if provider not in in_scope or not _mode_matches(entry, mode):
                    continue
                if entry.disabled:
                    chosen.pop(provider, None)
                    continue
                chosen[provider] = filters.get(provider)
    return tuple(LogProvider(p, f) for p, f in sorted(chosen.items()))


def _with_tracing(spec: TracingSpec, entry: Tracing) -> TracingSpec:
    """Each field the entry sets replaces the inherited one (a shallow merge, as istiod's)."""
    return replace(
        spec,
        # One provider per mode: the first (istiod's rule).
        provider=entry.providers[0].name if entry.providers else spec.provider,
        disabled=(
            spec.disabled if entry.disable_span_reporting is None else entry.disable_span_reporting
        ),
        custom_tags=tuple(sorted(entry.custom_tags.items())) or spec.custom_tags,
        random_sampling_percentage=(
            spec.random_sampling_percentage
            if entry.random_sampling_percentage is None
            else entry.random_sampling_percentage
        ),
        use_request_id_for_trace_sampling=(
            spec.use_request_id_for_trace_sampling
            if entry.use_request_id_for_trace_sampling is None
            else entry.use_request_id_for_trace_sampling
        ),
        enable_istio_tags=(
            spec.enable_istio_tags if entry.enable_istio_tags is None else entry.enable_istio_tags
        ),
        disable_context_propagation=(
            spec.disable_context_propagation
            if entry.disable_context_propagation is None
            else entry.disable_context_propagation
        ),
    )


def merge_tracing(tracing: Sequence[Tracing], mesh: MeshConfig) -> TracingConfig | None:
    """istiod's ``Telemetries.Tracing``: None when nothing configures tracing."""
    defaults = mesh.default_providers.tracing
    if not tracing and not defaults:
        return None
    first = TracingSpec(provider=defaults[0] if defaults else None)
    specs = {"CLIENT": first, "SERVER": first}
    for entry in tracing:
        mode = entry.match.mode if entry.match is not None else None
        for each in _modes(mode):
            specs[each] = _with_tracing(specs[each], entry)
    client, server = (
        spec
        if spec.provider is not None and fetch_provider(mesh, spec.provider) is not None
        # No (known) provider: tracing is off for that mode.
        else replace(spec, disabled=True)
        for spec in (specs["CLIENT"], specs["SERVER"])
    )
    return TracingConfig(client=client, server=server)


def _key(telemetry: Telemetry | None) -> tuple[str, str] | None:
    return (telemetry.namespace, telemetry.name) if telemetry is not None else None


def resolve_telemetry(
    telemetries: Iterable[Telemetry], mesh: MeshConfig, namespace: str, labels: Mapping[str, str]
) -> ResolvedTelemetry:
    """The merged Telemetry settings of a proxy in ``namespace`` with ``labels``."""
    scopes = applicable(telemetries, mesh.root_namespace, namespace, labels)
    found = [t.spec for t in scopes if t is not None]
    metrics = [m for spec in found for m in spec.metrics]
    intervals = [m.reporting_interval for m in metrics if m.reporting_interval is not None]
    levels = [spec.access_logging for spec in found if spec.access_logging]
    return ResolvedTelemetry(
        scopes=(_key(scopes[0]), _key(scopes[1]), _key(scopes[2])),
        metrics=merge_metrics(metrics, mesh),
        reporting_interval=intervals[-1] if intervals else None,
        client_logs=merge_logs(levels, mesh, "CLIENT"),
        server_logs=merge_logs(levels, mesh, "SERVER"),
        tracing=merge_tracing([t for spec in found for t in spec.tracing], mesh),
    )


__all__ = [
    "ALL_METRICS",
    "BUILTIN_PROVIDERS",
    "LogProvider",
    "MetricOverride",
    "ProviderMetrics",
    "ResolvedTelemetry",
    "TagChange",
    "TracingConfig",
    "TracingSpec",
    "applicable",
    "default_metric_providers",
    "fetch_provider",
    "merge_logs",
    "merge_metrics",
    "merge_tracing",
    "resolve_telemetry",
]
