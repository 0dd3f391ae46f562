"""WorkloadEntry → a workload (a VM or any host outside the platform), selectable like a pod.

ServiceEntries with a ``workloadSelector`` and Kubernetes Services with a selector pick
WorkloadEntries of their namespace just as they pick pods. ``ports`` (port name → number)
become the named ports a Service ``targetPort`` name resolves against.
"""

from __future__ import annotations

from mainsail.config.istio.workload_entry import WorkloadEntry
from mainsail.registry.model import Workload, sorted_labels


def workload_from_entry(entry: WorkloadEntry) -> Workload | None:
    """The entry as a workload, or None while it has no address."""
    spec = entry.spec
    if not spec.address:
        return None
    return Workload(
        name=entry.name,
        namespace=entry.namespace,
        address=spec.address,
        labels=sorted_labels(spec.labels),
        service_account=spec.service_account or "",
        named_ports=tuple(sorted((name, int(port)) for name, port in spec.ports.items())),
        locality=spec.locality or "",
        weight=spec.weight or 1,
        network=spec.network or "",
    )
