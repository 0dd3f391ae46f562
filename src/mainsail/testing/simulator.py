"""Traffic simulation over generated config: where would Envoy send this request?

The third test layer (style point 11): given the ``ProxyConfig`` one proxy receives (or a
snapshot and a ``ProxyNode``, through ``generate``), follow a request the way Envoy 1.40 does and
say what happens, without running Envoy::

    sim = Simulator.from_snapshot(snapshot, node)
    result = sim.simulate(Request(listener=(ip, 15080), authority="reviews:9080",
                                  headers={"end-user": "jason"}))
    assert result.cluster == "outbound|9080|v2|reviews.default.svc.cluster.local"

Semantics followed (Envoy's, for what the mesh generates):

- **Listener**: by name, or by the connection's destination ``(ip, port)`` — exact address first,
  then ``0.0.0.0``/``::`` on that port (how ``use_original_dst`` hands a connection over).
- **Filter chain**: Envoy's matching order, most specific wins at each step: destination port,
  destination IP (longest ``prefix_ranges``), SNI (exact, then longest wildcard), transport
  protocol, application protocols; else the ``default_filter_chain``. Source matches are not
  simulated (a chain using them raises).
- **HCM**: RDS (looked up by name in the same config) or an inline route configuration;
  ``normalize_path``/``merge_slashes``, ``strip_any_host_port``.
- **Virtual host**: exact domain, longest suffix wildcard, longest prefix wildcard, ``*``;
  ``ignore_port_in_host_matching``; domains with ports compare literally; duplicates raise.
- **Route**: in order, first match wins: ``prefix``/``path``/``safe_regex`` (full match, on the
  path without query)/``path_separated_prefix`` with ``case_sensitive``; header matchers
  (string/exact/prefix/suffix/contains/regex/range/present, ``invert_match``,
  ``treat_missing_header_as_empty``); query-parameter matchers (raw, first value); ``grpc``.
- **Action**: cluster, weighted clusters (name → weight; ``pick`` chooses as Envoy does for a
  random value), redirect (code and ``Location``), direct response, or no route (Envoy's 404
  ``NR``); for a TCP chain the ``tcp_proxy`` cluster(s).
- **Details**: the clusters' protos and endpoints (EDS, or the inline ``load_assignment``), header
  operations in Envoy's order (most specific level first), the path and authority sent upstream,
  timeout (Envoy's 15 s when unset), retry policy, fault, mirror clusters.

Not simulated: TLS, HTTP filters other than routing (fault/CORS/RBAC only reported), load
balancing inside a cluster, runtime keys, matcher trees. ``SimulationError`` says so when a config
needs them, and also when Envoy would reject the config (a bad regex, duplicate domains).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from mainsail import naming
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.testing.filter_chains import select_chain
from mainsail.testing.route_matching import (
    HttpRequestView,
    Redirect,
    SimulationError,
    normalize_path,
    redirect_for,
    rewrite_path,
    select_route,
    select_virtual_host,
    strip_port,
)
from mainsail.xds.generate import generate
from mainsail.xds.resources import ProxyConfig

__all__ = [
    "DirectResponse",
    "Endpoint",
    "HeaderOperation",
    "Outcome",
    "Redirect",
    "Request",
    "Result",
    "SimulationError",
    "Simulator",
    "Upstream",
    "simulate",
]

FAULT_FILTER = "envoy.filters.http.fault"
ENVOY_DEFAULT_ROUTE_TIMEOUT = timedelta(seconds=15)

Outcome = Literal[
    "cluster",  # one upstream cluster
    "weighted_clusters",  # several, by weight
    "redirect",
    "direct_response",
    "no_route",  # no virtual host or no route matched: Envoy's 404 with flag NR
    "tcp",  # a TCP proxy chain
    "no_filter_chain",  # Envoy closes the connection
    "no_listener",  # connection refused
]

M = TypeVar("M", bound=Message)
_Level = Literal["weighted_cluster", "route", "virtual_host", "route_config"]
_HeaderLevel: TypeAlias = (
    rc.Route | rc.VirtualHost | route_pb2.RouteConfiguration | rc.WeightedCluster.ClusterWeight
)


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One request (or, on a TCP listener, one connection).

    ``listener``: a listener name, or the ``(ip, port)`` the connection goes to. ``authority``
    is the Host (for an absolute-form request through the HTTP proxy, ``host:port`` from the
    URL). ``path`` may carry a query string; ``query`` is appended to it, in order.
    """

    listener: str | tuple[str, int]
    authority: str = ""
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=_empty)
    query: Mapping[str, str] = field(default_factory=_empty)
    scheme: str = "http"
    server_name: str = ""  # SNI, for filter-chain matching
    transport_protocol: str = "raw_buffer"
    application_protocols: tuple[str, ...] = ("http/1.1",)

    @property
    def full_path(self) -> str:
        if not self.query:
            return self.path
        joined = "&".join(f"{k}={v}" for k, v in self.query.items())
        return f"{self.path}{'&' if '?' in self.path else '?'}{joined}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    address: str
    port: int
    weight: int = 1
    locality: str = ""  # region/zone/subzone
    priority: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """A cluster the request may go to: its proto (None if CDS lacks it) and its endpoints."""

    name: str
    cluster: cluster_pb2.Cluster | None = field(repr=False)
    endpoints: tuple[Endpoint, ...]

    @property
    def discovery_type(self) -> str:
        """``EDS``, ``ORIGINAL_DST``… or an extension cluster's name (DNS, forward proxy)."""
        if self.cluster is None:
            return ""
        if self.cluster.WhichOneof("cluster_discovery_type") == "cluster_type":
            return str(self.cluster.cluster_type.name)
        return str(cluster_pb2.Cluster.DiscoveryType.Name(self.cluster.type))


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectResponse:
    status: int
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderOperation:
    """One header change, tagged with the config level it came from."""

    level: _Level
    name: str
    value: str
    action: str  # HeaderValueOption.HeaderAppendAction name


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    outcome: Outcome
    listener: str | None = None
    filter_chain: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    route: rc.Route | None = field(default=None, repr=False)
    cluster: str | None = None  # the cluster of ``cluster`` and single-cluster ``tcp`` outcomes
    weighted_clusters: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    upstreams: Mapping[str, Upstream] = field(default_factory=lambda: MappingProxyType({}))
    redirect: Redirect | None = None
    direct_response: DirectResponse | None = None
    request_headers_to_add: tuple[HeaderOperation, ...] = ()
    request_headers_to_remove: tuple[str, ...] = ()
    response_headers_to_add: tuple[HeaderOperation, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()
    upstream_path: str | None = None
    upstream_authority: str | None = None
    timeout: timedelta | None = None  # 0 disables it
    retry_policy: rc.RetryPolicy | None = field(default=None, repr=False)
    fault: fault_pb2.HTTPFault | None = field(default=None, repr=False)
    mirror_clusters: tuple[str, ...] = ()

    @property
    def route_name(self) -> str | None:
        return None if self.route is None else self.route.name

    @property
    def status(self) -> int | None:
        """The status Envoy answers with itself (redirect, direct response, 404 NR, fault abort
        at 100 %); None when an upstream answers."""
        if self.redirect is not None:
            return self.redirect.code
        if self.direct_response is not None:
            return self.direct_response.status
        if self.outcome == "no_route":
            return 404
        if self.fault is not None and self.fault.HasField("abort"):
            abort = self.fault.abort
            full = (100, 10_000, 1_000_000)[abort.percentage.denominator]
            if abort.percentage.numerator >= full and abort.http_status:
                return int(abort.http_status)
        return None

    @property
    def clusters(self) -> tuple[str, ...]:
        """Every cluster the request can go to (one, or the weighted ones)."""
        if self.weighted_clusters:
            return tuple(self.weighted_clusters)
        return (self.cluster,) if self.cluster else ()

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for name in self.clusters for e in self.upstreams[name].endpoints)

    def pick(self, random_value: int) -> str:
        """The weighted cluster Envoy picks for ``random_value`` (``pickWeightedCluster``)."""
        total = sum(self.weighted_clusters.values())
        if not total:
            raise SimulationError("no weighted clusters with weight")
        selected, begin = random_value % total, 0
        for name, weight in self.weighted_clusters.items():
            if begin <= selected < begin + weight:
                return name
            begin += weight
        raise AssertionError("unreachable")


def _unpack(packed: any_pb2.Any, message_type: type[M]) -> M:
    message = message_type()
    if not packed.Unpack(message):
        raise SimulationError(f"{packed.type_url} is not {message_type.DESCRIPTOR.full_name}")
    return message


def decoded(config: ProxyConfig, type_url: str, message_type: type[M]) -> dict[str, M]:
    """``config``'s resources of ``type_url`` by name, each unpacked into ``message_type``."""
    return {
        name: _unpack(resource.body, message_type)
        for name, resource in config.of_type(type_url).items()
    }


def _locality(locality: base_pb2.Locality) -> str:
    return "/".join(p for p in (locality.region, locality.zone, locality.sub_zone) if p)


def _endpoints(assignment: endpoint_pb2.ClusterLoadAssignment) -> tuple[Endpoint, ...]:
    found = []
    for group in assignment.endpoints:
        for lb_endpoint in group.lb_endpoints:
            address = lb_endpoint.endpoint.address.socket_address
            found.append(
                Endpoint(
                    address=address.address,
                    port=address.port_value,
                    weight=lb_endpoint.load_balancing_weight.value or 1,
                    locality=_locality(group.locality),
                    priority=group.priority,
                )
            )
    return tuple(found)


class Simulator:
    """The unpacked config of one proxy; ``simulate`` answers one request at a time."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.listeners = decoded(config, naming.LISTENER_TYPE, listener_pb2.Listener)
        self.route_configs = decoded(config, naming.ROUTE_TYPE, route_pb2.RouteConfiguration)
        self.clusters = decoded(config, naming.CLUSTER_TYPE, cluster_pb2.Cluster)
        self.assignments = decoded(config, naming.ENDPOINT_TYPE, endpoint_pb2.ClusterLoadAssignment)

    @classmethod
    def from_snapshot(cls, snapshot: MeshSnapshot, node: ProxyNode) -> Simulator:
        return cls(generate(snapshot, node))

    # --- lookups
    def listener_for(self, target: str | tuple[str, int]) -> listener_pb2.Listener | None:
        if isinstance(target, str):
            return self.listeners.get(target)
        ip, port = target
        by_address: dict[tuple[str, int], listener_pb2.Listener] = {}
        for listener in self.listeners.values():
            socket = listener.address.socket_address
            by_address.setdefault((socket.address, socket.port_value), listener)
        for candidate in (ip, "0.0.0.0", "::"):
            if (candidate, port) in by_address:
                return by_address[(candidate, port)]
        return None

    def upstream(self, name: str) -> Upstream:
        cluster = self.clusters.get(name)
        if cluster is not None and cluster.type == cluster_pb2.Cluster.EDS:
            eds_name = cluster.eds_cluster_config.service_name or name
            assignment = self.assignments.get(eds_name)
            endpoints = _endpoints(assignment) if assignment is not None else ()
        elif cluster is not None:
            endpoints = _endpoints(cluster.load_assignment)
        else:
            endpoints = ()
        return Upstream(name=name, cluster=cluster, endpoints=endpoints)

    # --- the walk
    def simulate(self, request: Request) -> Result:
        listener = self.listener_for(request.listener)
        if listener is None:
            return Result(outcome="no_listener")
        chain = select_chain(
            listener,
            destination=request.listener if isinstance(request.listener, tuple) else None,
            server_name=request.server_name,
            transport_protocol=request.transport_protocol,
            application_protocols=request.application_protocols,
        )
        if chain is None:
            return Result(outcome="no_filter_chain", listener=listener.name)
        for network_filter in chain.filters:
            type_url = network_filter.typed_config.type_url
            if type_url.endswith("HttpConnectionManager"):
                manager = _unpack(network_filter.typed_config, hcm_pb2.HttpConnectionManager)
                return self._http(listener, chain, manager, request)
            if type_url.endswith("tcp_proxy.v3.TcpProxy"):
                proxy = _unpack(network_filter.typed_config, tcp_proxy_pb2.TcpProxy)
                return self._tcp(listener, chain, proxy)
        raise SimulationError(f"listener {listener.name}: no HCM or tcp_proxy in the chain")

    def _tcp(
        self,
        listener: listener_pb2.Listener,
        chain: listener_components_pb2.FilterChain,
        proxy: tcp_proxy_pb2.TcpProxy,
    ) -> Result:
        weights = {c.name: c.weight for c in proxy.weighted_clusters.clusters}
        names = list(weights) or [proxy.cluster]
        return Result(
            outcome="tcp",
            listener=listener.name,
            filter_chain=chain.name,
            cluster=proxy.cluster or None,
            weighted_clusters=MappingProxyType(weights),
            upstreams=MappingProxyType({n: self.upstream(n) for n in names}),
        )

    def _route_config(self, manager: hcm_pb2.HttpConnectionManager) -> route_pb2.RouteConfiguration:
        kind = manager.WhichOneof("route_specifier")
        if kind == "route_config":
            return manager.route_config
        if kind == "rds":
            name = manager.rds.route_config_name
            if name not in self.route_configs:
                raise SimulationError(f"RDS {name!r} is not in the config (listener would warm)")
            return self.route_configs[name]
        raise SimulationError(f"unsupported route specifier {kind!r}")

    def _http(
        self,
        listener: listener_pb2.Listener,
        chain: listener_components_pb2.FilterChain,
        manager: hcm_pb2.HttpConnectionManager,
        request: Request,
    ) -> Result:
        config = self._route_config(manager)
        path = request.full_path
        if manager.normalize_path.value or manager.merge_slashes:
            path = normalize_path(path, merge_slashes=manager.merge_slashes)
        authority = request.authority
        if manager.strip_any_host_port:
            authority = strip_port(authority)
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        headers[":authority"] = [authority]
        headers[":path"] = [path]
        headers[":method"] = [request.method]
        headers[":scheme"] = [request.scheme]
        view = HttpRequestView(headers=headers, path=path)
        base = Result(
            outcome="no_route",
            listener=listener.name,
            filter_chain=chain.name,
            route_config=config.name,
        )
        vhost = select_virtual_host(config, authority)
        if vhost is None:
            return base
        route = select_route(vhost, view)
        result = _replace(base, virtual_host=vhost.name, route=route)
        if route is None:
            return result
        fault_enabled = any(f.name == FAULT_FILTER for f in manager.http_filters)
        return self._action(result, config, vhost, route, request, authority, path, fault_enabled)

    def _action(
        self,
        result: Result,
        config: route_pb2.RouteConfiguration,
        vhost: rc.VirtualHost,
        route: rc.Route,
        request: Request,
        authority: str,
        path: str,
        fault_enabled: bool,
    ) -> Result:
        kind = route.WhichOneof("action")
        headers = _header_operations(config, vhost, route, None)
        if kind == "redirect":
            redirect = redirect_for(route, authority, request.scheme, path)
            return _replace(result, outcome="redirect", redirect=redirect, **headers)
        if kind == "direct_response":
            body = route.direct_response.body
            data = body.inline_bytes or body.inline_string.encode()
            response = DirectResponse(status=route.direct_response.status, body=data)
            return _replace(result, outcome="direct_response", direct_response=response, **headers)
        if kind != "route":
            raise SimulationError(f"route {route.name!r}: unsupported action {kind!r}")
        action = route.route
        specifier = action.WhichOneof("cluster_specifier")
        weights: dict[str, int] = {}
        per_filter = [vhost.typed_per_filter_config, route.typed_per_filter_config]
        host_rewrite = action.host_rewrite_literal or None
        if specifier == "weighted_clusters":
            weights = {c.name: c.weight.value for c in action.weighted_clusters.clusters}
        elif specifier != "cluster":
            raise SimulationError(f"route {route.name!r}: unsupported {specifier!r}")
        names = list(weights) or [action.cluster]
        # Per-destination header ops belong to the weighted cluster chosen, so they are reported
        # only when there is a single one.
        entry = action.weighted_clusters.clusters[0] if len(weights) == 1 else None
        if entry is not None:
            headers = _header_operations(config, vhost, route, entry)
            per_filter.append(entry.typed_per_filter_config)
            host_rewrite = entry.host_rewrite_literal or host_rewrite
        timeout = (
            action.timeout.ToTimedelta()
            if action.HasField("timeout")
            else ENVOY_DEFAULT_ROUTE_TIMEOUT
        )
        retry = (
            action.retry_policy
            if action.HasField("retry_policy")
            else vhost.retry_policy
            if vhost.HasField("retry_policy")
            else None
        )
        fault = _most_specific_fault(per_filter) if fault_enabled else None
        return _replace(
            result,
            outcome="weighted_clusters" if weights else "cluster",
            cluster=None if weights else action.cluster,
            weighted_clusters=MappingProxyType(weights),
            upstreams=MappingProxyType({n: self.upstream(n) for n in names}),
            upstream_path=rewrite_path(
                route,
                path,
                prefix_rewrite=action.prefix_rewrite,
                regex_rewrite=action.regex_rewrite if action.HasField("regex_rewrite") else None,
            ),
            upstream_authority=host_rewrite or authority,
            timeout=timeout,
            retry_policy=retry,
            fault=fault,
            mirror_clusters=tuple(p.cluster for p in action.request_mirror_policies),
            **headers,
        )


def _replace(result: Result, **changes: Any) -> Result:
    return dataclasses.replace(result, **changes)


def _most_specific_fault(configs: list[Mapping[str, any_pb2.Any]]) -> fault_pb2.HTTPFault | None:
    for typed in reversed(configs):
        if FAULT_FILTER in typed:
            return _unpack(typed[FAULT_FILTER], fault_pb2.HTTPFault)
    return None


def _operations(
    level: _Level,
    options: list[base_pb2.HeaderValueOption],
) -> list[HeaderOperation]:
    return [
        HeaderOperation(
            level=level,
            name=o.header.key,
            value=o.header.value,
            action=base_pb2.HeaderValueOption.HeaderAppendAction.Name(o.append_action),
        )
        for o in options
    ]


def _header_operations(
    config: route_pb2.RouteConfiguration,
    vhost: rc.VirtualHost,
    route: rc.Route,
    entry: rc.WeightedCluster.ClusterWeight | None,
) -> dict[str, tuple[Any, ...]]:
    """Envoy's default order: most specific level first, so the least specific wins a clash."""
    levels: list[tuple[_Level, _HeaderLevel]] = [
        ("route", route),
        ("virtual_host", vhost),
        ("route_config", config),
    ]
    if entry is not None:
        levels.insert(0, ("weighted_cluster", entry))
    request_add: list[HeaderOperation] = []
    response_add: list[HeaderOperation] = []
    request_remove: list[str] = []
    response_remove: list[str] = []
    for level, message in levels:
        request_add += _operations(level, list(message.request_headers_to_add))
        response_add += _operations(level, list(message.response_headers_to_add))
        request_remove += list(message.request_headers_to_remove)
        response_remove += list(message.response_headers_to_remove)
    return {
        "request_headers_to_add": tuple(request_add),
        "request_headers_to_remove": tuple(request_remove),
        "response_headers_to_add": tuple(response_add),
        "response_headers_to_remove": tuple(response_remove),
    }


def simulate(config: ProxyConfig | Simulator, request: Request) -> Result:
    """One request through one proxy's config (build a ``Simulator`` to ask many)."""
    simulator = config if isinstance(config, Simulator) else Simulator(config)
    return simulator.simulate(request)
