"""Window totals → the service graph (Kiali's versioned-app graph), as ``/api/graph`` answers.

Nodes: workloads (``workload:<ns>/<name>``, with ``app``/``version`` and their ``app:<ns>/<app>``
box as ``parent``), services (``service:<ns>/<name>``), gateways (the workloads of gateway pods,
``gateway:<ns>/<name>``), external destinations (``external:<host>``: MESH_EXTERNAL ServiceEntry
hosts and what went through ``PassthroughCluster``) and ``unknown`` (callers without a proxy).

Edges (docs/dashboard.md): caller → service from what the caller's proxy reported
(``reporter="source"``); service → serving workload, and ``unknown`` → service for callers with
no proxy, from what the server's proxy reported (``reporter="destination"``). mTLS is the
server's word (``connection_security_policy`` is ``unknown`` on the client, Istio's rule), so a
caller → service edge takes it from the server's reports of the same caller and service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mainsail.dashboard.metrics_window import HistogramKey, SeriesKey, WindowTotals
from mainsail.dashboard.tally import Tally, is_error

_PASSTHROUGH = ("PassthroughCluster", "BlackHoleCluster")
_TCP = {"tcp_sent_bytes", "tcp_received_bytes", "tcp_opened"}
UNKNOWN_ID = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshInventory:
    """What the metrics do not say: which workloads are gateways, which hosts are outside."""

    gateways: frozenset[tuple[str, str]] = frozenset()  # (namespace, workload) of gateway pods
    external_hosts: frozenset[str] = frozenset()  # MESH_EXTERNAL ServiceEntry hosts


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    id: str
    kind: str  # workload | app | service | gateway | external | unknown
    namespace: str = ""
    name: str = ""
    app: str | None = None
    version: str | None = None
    parent: str | None = None


UNKNOWN = Node(id=UNKNOWN_ID, kind="unknown", name="unknown")


def _known(value: str) -> bool:
    return value not in ("", "unknown")


def workload_node(
    namespace: str, workload: str, app: str, version: str, inventory: MeshInventory
) -> Node:
    if not (_known(workload) and _known(namespace)):
        return UNKNOWN
    if (namespace, workload) in inventory.gateways:
        return Node(id=f"gateway:{namespace}/{workload}", kind="gateway", namespace=namespace,
                    name=workload, app=app if _known(app) else None)  # fmt: skip
    return Node(
        id=f"workload:{namespace}/{workload}",
        kind="workload",
        namespace=namespace,
        name=workload,
        app=app if _known(app) else None,
        version=version if _known(version) else None,
        parent=f"app:{namespace}/{app}" if _known(app) else None,
    )


def service_node(name: str, namespace: str, host: str, inventory: MeshInventory) -> Node | None:
    """The node a request to this destination service goes to; None when nothing is known."""
    if name in _PASSTHROUGH:
        target = host if _known(host) else name
        return Node(id=f"external:{target}", kind="external", name=target)
    if host in inventory.external_hosts or name in inventory.external_hosts:
        target = host if _known(host) else name
        return Node(id=f"external:{target}", kind="external", name=target)
    if _known(name) and _known(namespace):
        return Node(
            id=f"service:{namespace}/{name}", kind="service", namespace=namespace, name=name
        )
    if _known(host):
        return Node(id=f"external:{host}", kind="external", name=host)
    return None


def _source(key: SeriesKey | HistogramKey, inventory: MeshInventory) -> Node:
    app = key.source_app if isinstance(key, SeriesKey) else ""
    version = key.source_version if isinstance(key, SeriesKey) else ""
    return workload_node(
        key.source_workload_namespace, key.source_workload, app, version, inventory
    )


def _destination(key: SeriesKey | HistogramKey, inventory: MeshInventory) -> Node:
    app = key.destination_app if isinstance(key, SeriesKey) else ""
    version = key.destination_version if isinstance(key, SeriesKey) else ""
    return workload_node(
        key.destination_workload_namespace, key.destination_workload, app, version, inventory
    )


def _service(key: SeriesKey | HistogramKey, inventory: MeshInventory) -> Node | None:
    return service_node(
        key.destination_service_name,
        key.destination_service_namespace,
        key.destination_service,
        inventory,
    )


def _unknown_caller(key: SeriesKey | HistogramKey) -> bool:
    """A server's report of a caller that had no proxy (so nobody reported it as a source).
    TCP has no peer exchange: a TCP caller is a mesh workload when it presented a certificate."""
    if _known(key.source_workload):
        return False
    if isinstance(key, SeriesKey) and key.request_protocol == "tcp":
        return not _known(key.source_principal)
    return True


@dataclass
class _Edge:
    source: Node
    target: Node
    protocol: str = ""
    tally: Tally = field(default_factory=Tally)
    # The callers' certificates (source reports): a TCP server knows its caller only by them.
    principals: set[str] = field(default_factory=set)


@dataclass
class GraphBuilder:
    """Sums window totals into nodes and edges (mutable only inside ``build_graph``)."""

    inventory: MeshInventory
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str], _Edge] = field(default_factory=dict)
    # The server's word on mTLS for (caller, service) pairs.
    security: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def edge(self, source: Node, target: Node, protocol: str) -> _Edge:
        self.nodes.setdefault(source.id, source)
        self.nodes.setdefault(target.id, target)
        found = self.edges.get((source.id, target.id))
        if found is None:
            found = self.edges[(source.id, target.id)] = _Edge(source, target, protocol)
        elif found.protocol == "tcp" and protocol != "tcp":
            found.protocol = protocol
        return found

    def server_security(self, edge: _Edge) -> Tally | None:
        """What the servers said about this caller's connections to this service: by the
        caller's workload, else (TCP: no peer exchange) by its certificates."""
        found = self.security.get((edge.source.id, edge.target.id))
        if found is not None and found.seen_by_server:
            return found
        merged = Tally()
        for principal in edge.principals:
            merged.merge(self.security.get((f"principal:{principal}", edge.target.id), Tally()))
        return merged if merged.seen_by_server else None

    def _add(self, edge: _Edge, key: SeriesKey, roles: _Roles, count: float, server: bool) -> None:
        metric = key.metric
        if metric == "requests":
            edge.tally.add_outcome(count, roles.error, key.response_code, roles.flag)
        elif metric == "tcp_opened":
            edge.tally.tcp_connections += count
        else:
            edge.tally.tcp_bytes += count
        if server and metric in ("requests", "tcp_opened"):
            edge.tally.add_security(key, count)

    def add_counter(self, key: SeriesKey, count: float) -> None:
        roles = _counter_roles(key, self.inventory)
        for source, target, server in roles.edges:
            edge = self.edge(source, target, roles.protocol)
            self._add(edge, key, roles, count, server)
            if not server and roles.principal:
                edge.principals.add(roles.principal)
        for pair in roles.security:
            self.security.setdefault(pair, Tally()).add_security(key, count)

    def add_histogram(self, key: HistogramKey, per_bucket: tuple[float, ...]) -> None:
        for pair in _histogram_edges(key, self.inventory):
            found = self.edges.get(pair)
            if found is not None:
                found.tally.add_buckets(per_bucket)


@dataclass(frozen=True, slots=True)
class _Roles:
    """What one counter series adds to: edges (source, target, reported by the server?) and
    the (caller, service) pairs whose mTLS the server's report tells."""

    protocol: str = ""
    edges: tuple[tuple[Node, Node, bool], ...] = ()
    security: tuple[tuple[str, str], ...] = ()
    principal: str = ""
    error: bool = False
    flag: str = ""


_NO_ROLES = _Roles()


# A series' roles depend only on its labels and the inventory: worked out once per series, not
# on every request (a 100-service mesh has thousands of series; the graph is asked every few
# seconds).
@lru_cache(maxsize=1 << 16)
def _counter_roles(key: SeriesKey, inventory: MeshInventory) -> _Roles:
    if key.metric != "requests" and key.metric not in _TCP:
        return _NO_ROLES
    protocol = "tcp" if key.metric in _TCP else key.request_protocol
    service = _service(key, inventory)
    error = key.metric == "requests" and is_error(key)
    flag = key.response_flags if key.response_flags not in ("-", "", "unknown") else ""
    if key.reporter == "source":
        caller = _source(key, inventory)
        if service is None or caller is UNKNOWN:
            return _NO_ROLES
        principal = key.source_principal if _known(key.source_principal) else ""
        return _Roles(protocol=protocol, edges=((caller, service, False),), principal=principal,
                      error=error, flag=flag)  # fmt: skip
    if key.reporter != "destination" or service is None:
        return _NO_ROLES
    edges: list[tuple[Node, Node, bool]] = []
    security: list[tuple[str, str]] = []
    server = _destination(key, inventory)
    if service.kind == "service" and server is not UNKNOWN:
        edges.append((service, server, True))
    if key.metric in ("requests", "tcp_opened"):
        caller = _source(key, inventory)
        security.append((caller.id, service.id))
        if caller is UNKNOWN and _known(key.source_principal):
            security.append((f"principal:{key.source_principal}", service.id))
    if _unknown_caller(key):
        edges.append((UNKNOWN, service, True))
    return _Roles(protocol=protocol, edges=tuple(edges), security=tuple(security),
                  error=error, flag=flag)  # fmt: skip


@lru_cache(maxsize=1 << 16)
def _histogram_edges(key: HistogramKey, inventory: MeshInventory) -> tuple[tuple[str, str], ...]:
    service = _service(key, inventory)
    if service is None:
        return ()
    if key.reporter == "source":
        return ((_source(key, inventory).id, service.id),)
    pairs = [(service.id, _destination(key, inventory).id)]
    if _unknown_caller(key):
        pairs.append((UNKNOWN_ID, service.id))
    return tuple(pairs)


def _round(value: float) -> float:
    return round(value, 4)


def _node_json(node: Node, tally: Tally, seconds: float) -> dict[str, Any]:
    return {
        "id": node.id,
        "kind": node.kind,
        "namespace": node.namespace,
        "name": node.name,
        "app": node.app,
        "version": node.version,
        "parent": node.parent,
        **tally.figures(seconds),
    }


def _edge_json(edge: _Edge, security: Tally | None, seconds: float) -> dict[str, Any]:
    tally = edge.tally
    server_view = tally if tally.seen_by_server else security
    percent = server_view.mtls_percent() if server_view is not None else None
    found: dict[str, Any] = {
        "id": f"{edge.source.id}>{edge.target.id}",
        "source": edge.source.id,
        "target": edge.target.id,
        "protocol": edge.protocol,
        **tally.figures(seconds),
        "mtls": percent is not None and percent >= 99.9,
        "mtls_percent": percent,
        "response_codes": tally.per_second(tally.codes, seconds),
        "response_flags": tally.per_second(tally.flags, seconds),
    }
    if edge.protocol == "tcp":
        found["tcp_bytes_per_second"] = _round(tally.tcp_bytes / seconds) if seconds else 0.0
        found["tcp_connections_per_second"] = (
            _round(tally.tcp_connections / seconds) if seconds else 0.0
        )
    return found


def build_graph(
    totals: WindowTotals,
    inventory: MeshInventory,
    *,
    namespace: str | None = None,
) -> dict[str, Any]:
    """``nodes`` and ``edges`` of docs/dashboard.md (without ``window_seconds``/``generated_at``,
    which the caller knows). ``namespace``: only edges with an end in it."""
    builder = GraphBuilder(inventory)
    for key, count in totals.counters.items():
        builder.add_counter(key, count)
    for hist, per_bucket in totals.histograms.items():
        builder.add_histogram(hist, per_bucket)
    edges = [
        e
        for e in builder.edges.values()
        if namespace is None or namespace in (e.source.namespace, e.target.namespace)
    ]
    seconds = totals.seconds
    inbound: dict[str, Tally] = {}
    nodes: dict[str, Node] = {}
    for edge in edges:
        nodes[edge.source.id] = edge.source
        nodes[edge.target.id] = edge.target
        inbound.setdefault(edge.target.id, Tally()).merge(edge.tally)
    apps: dict[str, Tally] = {}
    for node in list(nodes.values()):
        if node.parent is None:
            continue
        box = apps.setdefault(node.parent, Tally())
        box.merge(inbound.get(node.id, Tally()))
        if node.parent not in nodes:
            nodes[node.parent] = Node(
                id=node.parent,
                kind="app",
                namespace=node.namespace,
                name=node.app or "",
                app=node.app,
            )
    node_rows = [
        _node_json(node, apps.get(node.id) or inbound.get(node.id) or Tally(), seconds)
        for node in sorted(nodes.values(), key=lambda n: n.id)
    ]
    edge_rows = [
        _edge_json(edge, builder.server_security(edge), seconds)
        for edge in sorted(edges, key=lambda e: (e.source.id, e.target.id))
    ]
    return {"nodes": node_rows, "edges": edge_rows}


def gateway_workloads(pods: Mapping[tuple[str, str], str]) -> frozenset[tuple[str, str]]:
    """(namespace, workload) of the pods whose proxy type is ``router``, from (ns, workload) →
    proxy type."""
    return frozenset(key for key, kind in pods.items() if kind == "router")
