"""EDS: one ClusterLoadAssignment per EDS cluster, endpoints filtered by subset labels here,
grouped by locality, with the proxy's locality priorities/weights (``xds.locality``).

Reads: services and endpoints (registry), DestinationRule subsets and ``localityLbSetting``.
"""

from __future__ import annotations

from collections import defaultdict

from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from mainsail import naming
from mainsail.registry.model import (
    MeshService,
    Resolution,
    ServiceEndpoint,
    Workload,
    labels_match,
)
from mainsail.snapshot.destination_rules import AppliedRule, destination_rule_for, policy_for
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security import WorkloadMtls, workload_mtls
from mainsail.snapshot.view import ProxyView
from mainsail.xds.cluster_tls import has_sidecar
from mainsail.xds.clusters import effective_resolution
from mainsail.xds.locality import Locality, apply_locality_lb, locality_setting
from mainsail.xds.protos import socket_address, struct, uint32


def build_endpoints(
    snapshot: MeshSnapshot, view: ProxyView
) -> list[endpoint_pb2.ClusterLoadAssignment]:
    assignments = []
    for service in view.visible_services:
        if effective_resolution(service, view) is not Resolution.CLIENT_SIDE_LB:
            continue
        rule = destination_rule_for(
            snapshot, view.node.namespace, service.hostname, service.namespace, view.node.label_map
        )
        subsets = [""] + [s.name for s in rule.subsets] if rule else [""]
        for port in service.ports:
            if port.protocol == "UDP":
                continue
            for subset in subsets:
                name = naming.build_outbound_cluster(port.port, service.hostname, subset)
                assignments.append(
                    load_assignment(snapshot, view, name, service, port.port, subset, rule)
                )
    return assignments


def load_assignment(
    snapshot: MeshSnapshot,
    view: ProxyView,
    cluster_name: str,
    service: MeshService,
    port: int,
    subset: str,
    rule: AppliedRule | None,
) -> endpoint_pb2.ClusterLoadAssignment:
    endpoints = snapshot.endpoints_of(service.hostname, port)
    chosen = rule.subset(subset) if rule and subset else None
    if chosen is not None:
        endpoints = tuple(e for e in endpoints if labels_match(chosen.labels, e.labels))
    by_locality: dict[str, list[ServiceEndpoint]] = defaultdict(list)
    for endpoint in endpoints:
        by_locality[endpoint.workload.locality].append(endpoint)
    groups = sorted(by_locality.items())
    assignment = endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster_name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                locality=Locality.parse(locality).proto(),
                lb_endpoints=[_lb_endpoint(e) for e in found],
                load_balancing_weight=uint32(sum(e.workload.weight for e in found)),
            )
            for locality, found in groups
        ],
    )
    policy = policy_for(rule, port, subset)
    tls = policy.get("tls")
    marks = _SidecarMarks(snapshot, tls.mode if tls is not None else None)
    for group, (_, found) in zip(assignment.endpoints, groups, strict=True):
        for lb_endpoint, endpoint in zip(group.lb_endpoints, found, strict=True):
            if marks.mtls(endpoint):
                lb_endpoint.metadata.filter_metadata[
                    naming.TRANSPORT_SOCKET_MATCH_METADATA
                ].CopyFrom(struct({naming.TLS_MODE_METADATA_KEY: naming.TLS_MODE_ISTIO}))
    apply_locality_lb(
        assignment,
        [[_topology_labels(e.workload) for e in found] for _, found in groups],
        proxy_locality(view),
        proxy_topology_labels(view),
        locality_setting(snapshot.mesh, policy.get("load_balancer")),
        failover_enabled="outlier_detection" in policy,
    )
    return assignment


class _SidecarMarks:
    """Which endpoints EDS marks ``tlsMode: istio`` for auto mTLS (istiod's ``mtlsChecker``):
    those with a sidecar (label ``security.istio.io/tlsMode: istio``), unless the
    DestinationRule's ``tls`` for the cluster is DISABLE, or (when it is not ISTIO_MUTUAL) the
    endpoint's own workload PeerAuthentication disables mTLS on the endpoint's port, e.g. a
    plaintext health port."""

    def __init__(self, snapshot: MeshSnapshot, rule_mode: str | None) -> None:
        self._snapshot = snapshot
        self._rule_mode = rule_mode
        self._modes: dict[tuple[str, tuple[tuple[str, str], ...]], WorkloadMtls] = {}

    def mtls(self, endpoint: ServiceEndpoint) -> bool:
        if self._rule_mode == "DISABLE" or not has_sidecar(endpoint):
            return False
        if self._rule_mode == "ISTIO_MUTUAL":
            return True
        workload = endpoint.workload
        key = (workload.namespace, workload.labels)
        modes = self._modes.get(key)
        if modes is None:
            modes = self._modes[key] = workload_mtls(
                self._snapshot, workload.namespace, workload.label_map
            )
        return modes.mode_for(endpoint.port) != "DISABLE"


def proxy_locality(view: ProxyView) -> Locality:
    """The proxy's own locality: its workload's (topology labels, WorkloadEntry ``locality``)."""
    return Locality.parse(view.workload.locality if view.workload is not None else "")


def proxy_topology_labels(view: ProxyView) -> dict[str, str]:
    return {**proxy_locality(view).labels(), **view.node.label_map}


def _topology_labels(workload: Workload) -> dict[str, str]:
    return {**Locality.parse(workload.locality).labels(), **workload.label_map}


def _lb_endpoint(endpoint: ServiceEndpoint) -> endpoint_components_pb2.LbEndpoint:
    workload = endpoint.workload
    labels = workload.label_map
    result = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(
            address=socket_address(endpoint.address, endpoint.port)
        ),
        load_balancing_weight=uint32(workload.weight),
    )
    app = labels.get("app", workload.name)
    version = labels.get("version", "")
    result.metadata.filter_metadata["istio"].CopyFrom(
        struct({"workload": f"{workload.name};{workload.namespace};{app};{version};Kubernetes"})
    )
    if labels:
        result.metadata.filter_metadata["envoy.lb"].CopyFrom(struct(dict(labels)))
    return result
