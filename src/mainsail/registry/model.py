"""The registry's model: services, their ports, and the workload instances behind them.

Every source (local platform, Kubernetes, ServiceEntry/WorkloadEntry) converts into these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from mainsail.registry.protocol import Protocol


class Resolution(StrEnum):
    """How a client reaches a service's endpoints (Istio's internal resolution names)."""

    CLIENT_SIDE_LB = "ClientSideLB"
    PASSTHROUGH = "Passthrough"
    DNS = "DNSLB"
    DNS_ROUND_ROBIN = "DNSRoundRobinLB"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePort:
    name: str
    port: int
    protocol: Protocol
    # A number, or a named container port resolved per endpoint; None means ``port``.
    target_port: int | str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshService:
    """A service as the mesh sees it, keyed by its fully qualified host name."""

    hostname: str
    name: str
    namespace: str
    ports: tuple[ServicePort, ...]
    addresses: tuple[str, ...] = ()
    resolution: Resolution = Resolution.CLIENT_SIDE_LB
    mesh_external: bool = False
    export_to: frozenset[str] = frozenset({"*"})
    labels: tuple[tuple[str, str], ...] = ()
    # Where it came from: "Kubernetes" or "ServiceEntry" (Istio's registry names).
    registry: str = "Kubernetes"
    # A ServiceEntry's ``subjectAltNames``: identities its endpoints present (TLS origination).
    subject_alt_names: tuple[str, ...] = ()

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)

    def port_named(self, name: str) -> ServicePort | None:
        return next((p for p in self.ports if p.name == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A running instance: a pod on the local platform or in Kubernetes, or a WorkloadEntry."""

    name: str
    namespace: str
    address: str
    labels: tuple[tuple[str, str], ...] = ()
    # Empty: no identity (a ServiceEntry endpoint or WorkloadEntry that names none).
    service_account: str = "default"
    # Named container ports, for Service targetPort names.
    named_ports: tuple[tuple[str, int], ...] = ()
    locality: str = ""
    weight: int = 1
    network: str = ""

    @property
    def label_map(self) -> Mapping[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceEndpoint:
    """One workload behind one service port."""

    hostname: str
    service_port: int
    address: str
    port: int
    workload: Workload

    @property
    def labels(self) -> Mapping[str, str]:
        return self.workload.label_map


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A label selector: every key/value of ``selector`` is in ``labels`` (empty selects all)."""
    return all(labels.get(k) == v for k, v in selector.items())


def sorted_labels(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))
