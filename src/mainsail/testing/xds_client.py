"""A simulated Envoy xDS client (sans-IO) for session tests, with a make-before-break check.

It ACKs every response (or NACKs those ``reject`` picks), subscribes to endpoints of the EDS
clusters it holds and to route configurations its listeners name, as Envoy does, and records
a violation whenever a route it holds sends to a cluster that is not active (an EDS cluster
becomes active once its endpoints arrive after it; an updated cluster stays active).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from mainsail import naming

NODE_ID = "sidecar~10.0.0.1~sim-0.default~default.svc.cluster.local"
Reject = Callable[[str, list[any_pb2.Any]], str | None]  # (type_url, resources) -> error or None


@dataclass(slots=True)
class SimulatedEnvoy:
    delta: bool = False
    reject: Reject = field(default=lambda _t, _r: None)
    held: dict[str, dict[str, tuple[str, any_pb2.Any]]] = field(default_factory=dict)
    subscribed: dict[str, set[str]] = field(default_factory=dict)
    last_nonce: dict[str, str] = field(default_factory=dict)
    active_clusters: set[str] = field(default_factory=set)
    warming: dict[str, str] = field(default_factory=dict)  # cluster -> endpoints it waits for
    violations: list[str] = field(default_factory=list)
    nacks: list[str] = field(default_factory=list)
    held_ack: Any = None

    def start(self) -> list[Any]:
        """The first requests: wildcard clusters and listeners (with the node on the first)."""
        first = self._request(naming.CLUSTER_TYPE, subscribe=set())
        first.node.CopyFrom(base_pb2.Node(id=NODE_ID, cluster="sim"))
        return [first, self._request(naming.LISTENER_TYPE, subscribe=set())]

    def handle(self, response: Any) -> list[Any]:
        type_url: str = response.type_url
        self.last_nonce[type_url] = response.nonce
        bodies = (
            [r.resource for r in response.resources] if self.delta else list(response.resources)
        )
        error = self.reject(type_url, bodies)
        if error is not None:
            self.nacks.append(type_url)
            return [self._ack(response, error)]
        self._apply(response)
        ack = self._ack(response, None)
        out: list[Any] = []
        if type_url == naming.CLUSTER_TYPE and self.warming:
            self.held_ack = ack  # Envoy sends the CDS ACK once its clusters have warmed
        else:
            out.append(ack)
        if not self.warming and self.held_ack is not None:
            out.append(self.held_ack)
            self.held_ack = None
        out += self._resubscribe(naming.ENDPOINT_TYPE, self._eds_names())
        out += self._resubscribe(naming.ROUTE_TYPE, self._route_names())
        self._check()
        return out

    def names(self, type_url: str) -> set[str]:
        return set(self.held.get(type_url, {}))

    # --- applying a response

    def _apply(self, response: Any) -> None:
        type_url: str = response.type_url
        held = self.held.setdefault(type_url, {})
        before = dict(held)
        if self.delta:
            for name in response.removed_resources:
                held.pop(name, None)
            for r in response.resources:
                held[r.name] = (r.version, r.resource)
        else:
            incoming = {_name(type_url, body): ("", body) for body in response.resources}
            if type_url in (naming.CLUSTER_TYPE, naming.LISTENER_TYPE):
                held.clear()
            held.update(incoming)
        if type_url in self.subscribed:  # named types: Envoy ignores resources it did not ask for
            for name in set(held) - self.subscribed[type_url]:
                del held[name]
        if type_url == naming.CLUSTER_TYPE:
            for name in set(self.active_clusters) - set(held):
                self.active_clusters.discard(name)
            for name in set(self.warming) - set(held):
                del self.warming[name]
            for name, (_, body) in held.items():
                if before.get(name, ("", None))[1] == body:
                    continue
                service = _eds_service(body)
                if service is None:
                    self.active_clusters.add(name)
                else:
                    self.warming[name] = service
        if type_url == naming.ENDPOINT_TYPE:
            got = {r.name for r in response.resources} if self.delta else set(incoming)
            for cluster, service in list(self.warming.items()):
                if cluster not in self.held.get(naming.CLUSTER_TYPE, {}):
                    del self.warming[cluster]
                elif service in got:
                    self.active_clusters.add(cluster)
                    del self.warming[cluster]

    def _check(self) -> None:
        for name in self._route_names():
            held = self.held.get(naming.ROUTE_TYPE, {}).get(name)
            if held is None:
                continue
            config = route_pb2.RouteConfiguration()
            held[1].Unpack(config)
            for vhost in config.virtual_hosts:
                for route in vhost.routes:
                    cluster = route.route.cluster
                    if cluster and cluster not in self.active_clusters:
                        self.violations.append(f"route {name} -> inactive cluster {cluster}")

    # --- subscriptions

    def _eds_names(self) -> set[str]:
        clusters = self.held.get(naming.CLUSTER_TYPE, {}).values()
        return {s for _, body in clusters if (s := _eds_service(body)) is not None}

    def _route_names(self) -> set[str]:
        names: set[str] = set()
        for _, body in self.held.get(naming.LISTENER_TYPE, {}).values():
            listener = listener_pb2.Listener()
            body.Unpack(listener)
            for chain in listener.filter_chains:
                for f in chain.filters:
                    manager = hcm_pb2.HttpConnectionManager()
                    if f.typed_config.Unpack(manager) and manager.HasField("rds"):
                        names.add(manager.rds.route_config_name)
        return names

    def _resubscribe(self, type_url: str, names: set[str]) -> list[Any]:
        old = self.subscribed.get(type_url)
        if old == names or (old is None and not names):
            return []
        self.subscribed[type_url] = names
        for gone in (old or set()) - names:  # Envoy drops what nothing refers to any more
            self.held.get(type_url, {}).pop(gone, None)
        if self.delta:
            return [
                self._request(
                    type_url, subscribe=names - (old or set()), gone=(old or set()) - names
                )
            ]
        return [self._request(type_url, subscribe=names)]

    def _request(
        self, type_url: str, *, subscribe: set[str], gone: frozenset[str] | set[str] = frozenset()
    ) -> Any:
        if self.delta:
            return discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=sorted(subscribe),
                resource_names_unsubscribe=sorted(gone),
            )
        return discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            resource_names=sorted(subscribe),
            response_nonce=self.last_nonce.get(type_url, ""),
        )

    def _ack(self, response: Any, error: str | None) -> Any:
        if self.delta:
            request = discovery_pb2.DeltaDiscoveryRequest(
                type_url=response.type_url, response_nonce=response.nonce
            )
        else:
            request = discovery_pb2.DiscoveryRequest(
                type_url=response.type_url,
                response_nonce=response.nonce,
                version_info=response.version_info,
                resource_names=sorted(self.subscribed.get(response.type_url, set())),
            )
        if error is not None:
            request.error_detail.message = error
        return request


def _eds_service(body: any_pb2.Any) -> str | None:
    cluster = cluster_pb2.Cluster()
    body.Unpack(cluster)
    if cluster.type != cluster_pb2.Cluster.EDS:
        return None
    return str(cluster.eds_cluster_config.service_name or cluster.name)


def _name(type_url: str, body: any_pb2.Any) -> str:
    messages: dict[str, Any] = {
        naming.CLUSTER_TYPE: cluster_pb2.Cluster,
        naming.LISTENER_TYPE: listener_pb2.Listener,
        naming.ROUTE_TYPE: route_pb2.RouteConfiguration,
        naming.SECRET_TYPE: secret_pb2.Secret,
    }
    if type_url == naming.ENDPOINT_TYPE:
        assignment = endpoint_pb2.ClusterLoadAssignment()
        body.Unpack(assignment)
        return str(assignment.cluster_name)
    message = messages[type_url]()
    body.Unpack(message)
    return str(message.name)
