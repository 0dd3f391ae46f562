"""What the dashboard reads from the control plane, handed in by its composition root
(``runtime.control_plane``): the store, the snapshot, the pods, the ADS status, the trace store
and the metrics window. Callables, so every request sees the current state."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mainsail.config.base import Resource
from mainsail.config.mesh import MeshConfig
from mainsail.dashboard.graph import MeshInventory
from mainsail.dashboard.metrics_window import MetricsWindow
from mainsail.dashboard.traces_view import TraceSource
from mainsail.platform.pod import PodSpec
from mainsail.snapshot.mesh_snapshot import MeshSnapshot

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardSources:
    objects: Callable[[], Sequence[Resource]]
    snapshot: Callable[[], MeshSnapshot]
    mesh: MeshConfig
    pods: Callable[[], Sequence[PodSpec]]
    proxy_status: Callable[[], Sequence[Mapping[str, Any]]]
    traces: TraceSource
    window: MetricsWindow
    prometheus_url: str | None = None
    static_dir: Path = field(default=STATIC_DIR)


def inventory(snapshot: MeshSnapshot, pods: Sequence[PodSpec]) -> MeshInventory:
    return MeshInventory(
        gateways=frozenset(
            (p.namespace, p.workload_name or p.name) for p in pods if p.proxy_type == "router"
        ),
        external_hosts=frozenset(s.hostname for s in snapshot.services.values() if s.mesh_external),
    )
