"""Locality load balancing (DestinationRule ``localityLbSetting``, mesh default): per-proxy
priorities and weights on a ClusterLoadAssignment, as istiod's ``loadbalancer`` package does.

- ``distribute``: the first rule whose ``from`` matches the proxy's locality sets each matching
  locality's ``load_balancing_weight`` (a wildcard ``to`` splitting its weight over the localities
  it covers, by their own weights); localities it does not name get no endpoints.
- failover (only when the cluster has outlier detection, else Envoy would never leave priority
  0): priority 0 same region/zone/subzone, 1 same zone, 2 same region, 3 elsewhere, 4 a region
  ``failover`` does not send this proxy's region to; ``failoverPriority`` labels first split each
  locality into tiers (proxy label value equal to the endpoint's), then the locality priority is
  applied within them (tier x 5 + locality). Priorities are renumbered 0..N without gaps.

The proxy's locality is its workload's (pod topology labels, WorkloadEntry ``locality``), so the
EDS of a cluster depends on it: ``xds.generate.Translator`` keys shared output by locality.

Reads: DestinationRule ``trafficPolicy.loadBalancer.localityLbSetting``, MeshConfig
``localityLbSetting``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from mainsail.config.istio.destination_rule import LoadBalancerSettings, LocalityLoadBalancerSetting
from mainsail.config.mesh import MeshConfig
from mainsail.registry.kube import REGION_LABEL, SUBZONE_LABEL, ZONE_LABEL
from mainsail.xds.protos import uint32

_LABEL_SEPARATOR = "="


@dataclass(frozen=True, slots=True)
class Locality:
    region: str = ""
    zone: str = ""
    subzone: str = ""

    @classmethod
    def parse(cls, text: str) -> Locality:
        region, zone, subzone = [*text.split("/"), "", ""][:3]
        return cls(region, zone, subzone)

    @classmethod
    def of(cls, locality: base_pb2.Locality) -> Locality:
        return cls(locality.region, locality.zone, locality.sub_zone)

    def proto(self) -> base_pb2.Locality:
        return base_pb2.Locality(region=self.region, zone=self.zone, sub_zone=self.subzone)

    def labels(self) -> dict[str, str]:
        """The topology labels istiod adds to an endpoint's (and a proxy's) labels."""
        named = {REGION_LABEL: self.region, ZONE_LABEL: self.zone, SUBZONE_LABEL: self.subzone}
        return {k: v for k, v in named.items() if v}


def locality_setting(
    mesh: MeshConfig, load_balancer: LoadBalancerSettings | None
) -> LocalityLoadBalancerSetting | None:
    """The setting in force: the DestinationRule's if it has one (``enabled: false`` turns it
    off), else the mesh's (istiod's ``GetLocalityLbSetting``)."""
    rule = load_balancer.locality_lb_setting if load_balancer is not None else None
    if rule is not None:
        return None if rule.enabled is False else rule
    mesh_setting = mesh.locality_lb_setting
    return None if mesh_setting.enabled is False else mesh_setting


def wants_locality_weighted_config(
    setting: LocalityLoadBalancerSetting | None, failover_enabled: bool
) -> bool:
    """Whether the cluster gets ``common_lb_config.locality_weighted_lb_config``."""
    if setting is None:
        return False
    if setting.distribute:
        return True
    return failover_enabled and bool(setting.failover or setting.failover_priority)


def locality_matches(pattern: str, locality: Locality) -> bool:
    """istiod's ``LocalityMatch``: ``region/zone/subzone`` with ``*`` (or an absent part) matching
    anything below the region."""
    region, zone, subzone = [*pattern.split("/"), "", ""][:3]
    return (
        (region == "*" or region == locality.region)
        and (zone in ("*", "") or zone == locality.zone)
        and (subzone in ("*", "") or subzone == locality.subzone)
    )


def _lb_priority(proxy: Locality, endpoint: Locality) -> int:
    if proxy.region != endpoint.region:
        return 3
    if proxy.zone != endpoint.zone:
        return 2
    return 0 if proxy.subzone == endpoint.subzone else 1


def apply_locality_lb(
    assignment: endpoint_pb2.ClusterLoadAssignment,
    endpoint_labels: Sequence[Sequence[Mapping[str, str]]],
    proxy: Locality,
    proxy_labels: Mapping[str, str],
    setting: LocalityLoadBalancerSetting | None,
    failover_enabled: bool,
) -> None:
    """Rewrite ``assignment`` in place. ``endpoint_labels[i][j]``: labels of
    ``assignment.endpoints[i].lb_endpoints[j]`` (for ``failoverPriority``)."""
    if setting is None:
        return
    if setting.distribute:
        _apply_distribute(assignment, proxy, setting)
    elif failover_enabled:
        if setting.failover_priority:
            _apply_failover_priorities(
                assignment, endpoint_labels, proxy_labels, setting.failover_priority
            )
            if setting.failover:
                _apply_failover(assignment, proxy, setting)
        else:
            _apply_failover(assignment, proxy, setting)


def _apply_distribute(
    assignment: endpoint_pb2.ClusterLoadAssignment,
    proxy: Locality,
    setting: LocalityLoadBalancerSetting,
) -> None:
    for rule in setting.distribute:
        if not locality_matches(rule.from_ or "", proxy):
            continue
        unmatched = set(range(len(assignment.endpoints)))
        for pattern, weight in rule.to.items():
            originals: dict[int, int] = {}
            for index, group in enumerate(assignment.endpoints):
                if index in unmatched and locality_matches(pattern, Locality.of(group.locality)):
                    unmatched.discard(index)
                    originals[index] = group.load_balancing_weight.value or 1
            total = sum(originals.values())
            for index, original in originals.items():
                share = original * weight / total
                if share > 0:
                    assignment.endpoints[index].load_balancing_weight.value = math.ceil(share)
        for index in unmatched:
            del assignment.endpoints[index].lb_endpoints[:]
        return


def _apply_failover(
    assignment: endpoint_pb2.ClusterLoadAssignment,
    proxy: Locality,
    setting: LocalityLoadBalancerSetting,
) -> None:
    for group in assignment.endpoints:
        endpoint = Locality.of(group.locality)
        priority = _lb_priority(proxy, endpoint)
        if priority == 3:
            for rule in setting.failover:
                if rule.from_ == proxy.region:
                    if endpoint.region != rule.to:
                        priority = 4
                    break
        group.priority = group.priority * 5 + priority
    _renumber(list(assignment.endpoints))


def _renumber(groups: list[endpoint_components_pb2.LocalityLbEndpoints]) -> None:
    order = {p: i for i, p in enumerate(sorted({g.priority for g in groups}))}
    for group in groups:
        group.priority = order[group.priority]


def _apply_failover_priorities(
    assignment: endpoint_pb2.ClusterLoadAssignment,
    endpoint_labels: Sequence[Sequence[Mapping[str, str]]],
    proxy_labels: Mapping[str, str],
    failover_priority: Sequence[str],
) -> None:
    if not proxy_labels or not assignment.endpoints:
        return
    names: list[str] = []
    overrides: dict[str, str] = {}
    for item in failover_priority:
        name, sep, value = item.partition(_LABEL_SEPARATOR)
        names.append(name)
        if sep:
            overrides[name] = value
    lowest = len(names)
    split: list[endpoint_components_pb2.LocalityLbEndpoints] = []
    for group, labels in zip(assignment.endpoints, endpoint_labels, strict=True):
        tiers: dict[int, list[int]] = {}
        for index, endpoint_label in enumerate(labels):
            tier = 0
            for position, name in enumerate(names):
                wanted = overrides.get(name, proxy_labels.get(name))
                if wanted != endpoint_label.get(name):
                    tier = lowest - position
                    break
            tiers.setdefault(tier, []).append(index)
        for tier in sorted(tiers):
            part = endpoint_components_pb2.LocalityLbEndpoints()
            part.CopyFrom(group)
            del part.lb_endpoints[:]
            part.priority = tier
            weight = 0
            for index in tiers[tier]:
                part.lb_endpoints.append(group.lb_endpoints[index])
                weight += group.lb_endpoints[index].load_balancing_weight.value
            part.load_balancing_weight.CopyFrom(uint32(weight))
            split.append(part)
    _renumber(split)
    del assignment.endpoints[:]
    assignment.endpoints.extend(split)
