"""EDS: one ClusterLoadAssignment per EDS cluster, endpoints filtered by subset labels here.

Reads: services and endpoints (registry), DestinationRule subsets.
"""

from __future__ import annotations

from collections import defaultdict

from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from mainsail import naming
from mainsail.registry.model import MeshService, Resolution, ServiceEndpoint, labels_match
from mainsail.snapshot.destination_rules import AppliedRule, destination_rule_for
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView
from mainsail.xds.protos import socket_address, struct, uint32


def build_endpoints(
    snapshot: MeshSnapshot, view: ProxyView
) -> list[endpoint_pb2.ClusterLoadAssignment]:
    assignments = []
    for service in view.visible_services:
        if service.resolution is not Resolution.CLIENT_SIDE_LB:
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
                    load_assignment(snapshot, name, service, port.port, subset, rule)
                )
    return assignments


def load_assignment(
    snapshot: MeshSnapshot,
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
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster_name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                locality=_locality(locality),
                lb_endpoints=[_lb_endpoint(e) for e in found],
                load_balancing_weight=uint32(sum(e.workload.weight for e in found)),
            )
            for locality, found in sorted(by_locality.items())
        ],
    )


def _locality(text: str) -> base_pb2.Locality:
    region, zone, subzone = ([*text.split("/"), "", ""])[:3]
    return base_pb2.Locality(region=region, zone=zone, sub_zone=subzone)


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
