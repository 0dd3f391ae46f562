"""Which Sidecar resource governs a proxy, and what its ``egress`` lets the proxy see
(Istio's ``SidecarScope``, ``pilot/pkg/model/sidecar.go``; reference §3.7).

Selection: the oldest Sidecar of the proxy's namespace whose ``workloadSelector`` matches the
proxy's labels, else the oldest one of that namespace without a selector, else the oldest one of
the root namespace without a selector, else none (everything exported to the namespace is
visible). A Sidecar applies to sidecar proxies only; gateways ignore it, as in Istio.

``egress[].hosts`` are ``<namespace>/<dnsName>``: namespace ``*`` (any), ``.`` (the proxy's
namespace, also for a root-namespace default), ``~`` (none) or a name; ``dnsName`` ``*``,
``*.suffix`` or a name. A service is in scope when its namespace and hostname match an entry; a
VirtualService when its namespace matches and one of its hosts overlaps. A Sidecar without
``egress`` imports ``*/*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from mainsail.config.istio.sidecar import Sidecar
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.registry.model import MeshService, labels_match
from mainsail.snapshot.hosts import hosts_intersect, resolve_short_name
from mainsail.snapshot.mesh_snapshot import MeshSnapshot

OutboundMode = Literal["ALLOW_ANY", "REGISTRY_ONLY"]


def sidecar_for(
    snapshot: MeshSnapshot, namespace: str, labels: Mapping[str, str]
) -> Sidecar | None:
    in_namespace = [s for s in snapshot.sidecars if s.namespace == namespace]
    for sidecar in in_namespace:
        selector = sidecar.spec.workload_selector
        if selector is not None and selector.labels and labels_match(selector.labels, labels):
            return sidecar
    for sidecar in in_namespace:
        if _is_default(sidecar):
            return sidecar
    root = snapshot.mesh.root_namespace
    return next(
        (s for s in snapshot.sidecars if s.namespace == root and _is_default(s)),
        None,
    )


def _is_default(sidecar: Sidecar) -> bool:
    selector = sidecar.spec.workload_selector
    return selector is None or not selector.labels


@dataclass(frozen=True, slots=True, kw_only=True)
class EgressScope:
    """One ``egress`` listener: its port (None: every port) and its ``(namespace, dnsName)``
    imports, ``.`` already resolved and ``~`` entries dropped."""

    port: int | None
    hosts: tuple[tuple[str, str], ...]

    def admits(self, namespace: str, hostname: str) -> bool:
        return any(
            ns in ("*", namespace) and hosts_intersect(pattern, hostname)
            for ns, pattern in self.hosts
        )


def egress_scopes(sidecar: Sidecar, proxy_namespace: str) -> tuple[EgressScope, ...]:
    listeners = sidecar.spec.egress
    if not listeners:
        return (EgressScope(port=None, hosts=(("*", "*"),)),)
    scopes = []
    for listener in listeners:
        hosts = []
        for entry in listener.hosts:
            namespace, _, pattern = entry.partition("/")
            if namespace == "~":
                continue
            hosts.append((proxy_namespace if namespace == "." else namespace, pattern))
        port = listener.port.number if listener.port is not None else None
        scopes.append(EgressScope(port=port or None, hosts=tuple(hosts)))
    return tuple(scopes)


def scoped_service(service: MeshService, scopes: tuple[EgressScope, ...]) -> MeshService | None:
    """The service as the scopes import it: all its ports when a port-less listener admits it,
    else only the ports of the listeners that admit it; None when none does.

    Istio keeps a re-ported service's other ports in CDS; the local platform has one HTTP-proxy
    listener and no per-port outbound listeners, so the port is the only place the restriction
    can live: the service shows (vhosts, TCP listeners, clusters) only on those ports."""
    admitting = [s for s in scopes if s.admits(service.namespace, service.hostname)]
    if not admitting:
        return None
    if any(s.port is None for s in admitting):
        return service
    ports = {s.port for s in admitting}
    kept = tuple(p for p in service.ports if p.port in ports)
    if not kept:
        return None
    return service if kept == service.ports else replace(service, ports=kept)


def virtual_service_in_scope(
    vs: VirtualService, scopes: tuple[EgressScope, ...], domain: str
) -> bool:
    hosts = [resolve_short_name(h, vs.namespace, domain) for h in vs.spec.hosts]
    return any(
        ns in ("*", vs.namespace) and any(hosts_intersect(pattern, h) for h in hosts)
        for scope in scopes
        for ns, pattern in scope.hosts
    )


def outbound_mode(snapshot: MeshSnapshot, sidecar: Sidecar | None) -> OutboundMode:
    policy = sidecar.spec.outbound_traffic_policy if sidecar is not None else None
    if policy is not None and policy.mode is not None:
        return policy.mode
    return snapshot.mesh.outbound_traffic_policy.mode
