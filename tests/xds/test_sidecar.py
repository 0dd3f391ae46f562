"""The Sidecar resource (reference §3.7): selection, egress scoping, egress ports, ingress
listeners, outboundTrafficPolicy; and the Translator keeping scoped proxies apart."""

from __future__ import annotations

import dataclasses

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail import naming
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.xds.generate import Translator
from mainsail.xds.resources import ProxyConfig

from .cases import Case, generate_case, load_case, proxy_node

REVIEWS = "reviews.default.svc.cluster.local"
RATINGS = "ratings.default.svc.cluster.local"
DETAILS = "details.other.svc.cluster.local"
MONGO = "mongo.default.svc.cluster.local"
GATEWAY = "istio-ingressgateway.istio-system.svc.cluster.local"


def _sidecar(spec: str, namespace: str = "default", name: str = "scope", created: str = "") -> str:
    stamp = f', creationTimestamp: "{created}"' if created else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: {name}, namespace: {namespace}{stamp}}}
spec:
{spec}
---
"""


def _config(text: str) -> ProxyConfig:
    return generate_case(Case("unit", text + "\n---\n" + load_case("default_routes").text))


def _hosts(config: ProxyConfig) -> set[str]:
    """Hostnames with an outbound cluster."""
    found = set()
    for name in config.of_type(naming.CLUSTER_TYPE):
        key = naming.parse_cluster_name(name)
        if key is not None and key.direction == "outbound":
            found.add(key.host)
    return found


def _http_proxy(config: ProxyConfig) -> route_pb2.RouteConfiguration:
    message = route_pb2.RouteConfiguration()
    config.of_type(naming.ROUTE_TYPE)[naming.HTTP_PROXY_ROUTE].body.Unpack(message)
    return message


def _vhosts(config: ProxyConfig) -> list[str]:
    return [v.name for v in _http_proxy(config).virtual_hosts]


def test_without_a_sidecar_everything_exported_is_visible() -> None:
    assert {REVIEWS, RATINGS, DETAILS, MONGO, GATEWAY} <= _hosts(_config(""))


def test_namespace_default_egress_keeps_the_own_namespace_only() -> None:
    config = _config(_sidecar("  egress: [{hosts: ['./*']}]"))
    assert _hosts(config) == {REVIEWS, RATINGS, MONGO, "client.default.svc.cluster.local"}
    assert f"{DETAILS}:80" not in _vhosts(config)
    assert not any(DETAILS in name for name in config.of_type(naming.ENDPOINT_TYPE))


def test_egress_hosts_forms() -> None:
    config = _config(
        _sidecar(
            "  egress: [{hosts: ['other/details.other.svc.cluster.local', '*/ratings.default.svc.cluster.local']}]"
        )
    )
    assert _hosts(config) == {DETAILS, RATINGS}
    assert _hosts(_config(_sidecar("  egress: [{hosts: ['~/*']}]"))) == set()
    assert _hosts(_config(_sidecar("  egress: [{hosts: ['istio-system/*']}]"))) == {GATEWAY}
    # No egress at all imports */*.
    assert DETAILS in _hosts(_config(_sidecar("  outboundTrafficPolicy: {mode: ALLOW_ANY}")))


def test_selection_workload_selector_then_namespace_default_then_root_default() -> None:
    selected = _sidecar(
        "  workloadSelector: {labels: {app: client}}\n  egress: [{hosts: ['other/*']}]",
        name="selected",
    )
    other_workload = _sidecar(
        "  workloadSelector: {labels: {app: nobody}}\n  egress: [{hosts: ['~/*']}]",
        name="other",
    )
    default = _sidecar("  egress: [{hosts: ['./*']}]", name="default")
    root = _sidecar("  egress: [{hosts: ['istio-system/*']}]", namespace="istio-system")
    assert _hosts(_config(selected + other_workload + default + root)) == {DETAILS}
    assert REVIEWS in _hosts(_config(other_workload + default + root))
    # A root-namespace default applies to every namespace; ``.`` is the proxy's namespace.
    root_own = _sidecar("  egress: [{hosts: ['./*']}]", namespace="istio-system")
    assert REVIEWS in _hosts(_config(root_own)) and GATEWAY not in _hosts(_config(root_own))
    assert _hosts(_config(root)) == {GATEWAY}
    # A Sidecar of another (non-root) namespace does not apply.
    assert DETAILS in _hosts(_config(_sidecar("  egress: [{hosts: ['~/*']}]", namespace="other")))


def test_egress_port_keeps_only_that_port_of_the_services_it_imports() -> None:
    config = _config(
        _sidecar(
            """  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    hosts: ['./*']
  - hosts: ['other/*']"""
        )
    )
    vhosts = _vhosts(config)
    assert f"{RATINGS}:9080" in vhosts and f"{RATINGS}:9090" not in vhosts
    assert f"{DETAILS}:80" in vhosts  # the port-less listener imports every port
    assert MONGO not in _hosts(config)  # no port 9080
    clusters = set(config.of_type(naming.CLUSTER_TYPE))
    assert f"outbound|9090||{RATINGS}" not in clusters
    assert f"outbound|9080||{RATINGS}" in clusters


def test_outbound_traffic_policy_of_the_sidecar_overrides_the_mesh() -> None:
    blocked = _config(_sidecar("  outboundTrafficPolicy: {mode: REGISTRY_ONLY}"))
    assert _vhosts(blocked)[-1] == naming.BLOCK_ALL_VHOST
    assert _vhosts(_config(""))[-1] == naming.ALLOW_ANY_VHOST


def test_egress_scopes_virtual_services_by_namespace_and_host() -> None:
    foreign_vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-from-other, namespace: other}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local, port: {number: 9080}}}],
          timeout: 7s}]
---
"""

    def reviews_timeout(config: ProxyConfig) -> float:
        vhost = next(v for v in _http_proxy(config).virtual_hosts if v.name == f"{REVIEWS}:9080")
        return vhost.routes[0].route.timeout.ToTimedelta().total_seconds()

    assert reviews_timeout(_config(foreign_vs)) == 7
    # The VS lives in "other": importing only ./* drops it, the service keeps its default route.
    assert reviews_timeout(_config(foreign_vs + _sidecar("  egress: [{hosts: ['./*']}]"))) == 0
    both = _sidecar("  egress: [{hosts: ['./*', 'other/reviews.default.svc.cluster.local']}]")
    assert reviews_timeout(_config(foreign_vs + both)) == 7


def _listener(config: ProxyConfig, name: str) -> listener_pb2.Listener:
    message = listener_pb2.Listener()
    config.of_type(naming.LISTENER_TYPE)[name].body.Unpack(message)
    return message


def _cluster(config: ProxyConfig, name: str) -> cluster_pb2.Cluster:
    message = cluster_pb2.Cluster()
    config.of_type(naming.CLUSTER_TYPE)[name].body.Unpack(message)
    return message


def test_ingress_replaces_service_inbound_with_its_own_ports_and_default_endpoints() -> None:
    config = _config(
        _sidecar(
            """  ingress:
  - port: {number: 7070, protocol: HTTP, name: http-web}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 7071, protocol: TCP, name: tcp-raw}
    defaultEndpoint: 0.0.0.0:7300"""
        )
    )
    listeners = set(config.of_type(naming.LISTENER_TYPE))
    assert {"10.10.0.10_7070", "10.10.0.10_7071"} <= listeners
    assert "10.10.0.10_8080" not in listeners and "10.10.0.10_9001" not in listeners
    # 127.0.0.1:8080 is the app's container port 8080: its private port on the pod address.
    web = _cluster(config, "inbound|7070||")
    address = web.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("10.10.0.10", 18080)
    raw = _cluster(config, "inbound|7071||")
    address = raw.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("10.10.0.10", 7300)  # not a container port
    assert "inbound|8080||" not in config.of_type(naming.CLUSTER_TYPE)
    chain = _listener(config, "10.10.0.10_7070").filter_chains[0]
    manager = hcm_pb2.HttpConnectionManager()
    chain.filters[0].typed_config.Unpack(manager)
    (route,) = manager.route_config.virtual_hosts[0].routes
    assert route.route.cluster == "inbound|7070||"
    tcp = _listener(config, "10.10.0.10_7071").filter_chains[0].filters[0]
    assert tcp.name == "envoy.filters.network.tcp_proxy"


def test_translator_keeps_proxies_with_different_sidecars_apart() -> None:
    text = (
        _sidecar(
            "  workloadSelector: {labels: {version: v1}}\n  egress: [{hosts: ['./*']}]",
            name="v1-only",
        )
        + load_case("default_routes").text
    )
    parsed = parse_documents(text)
    assert parsed.ok, parsed.errors
    translator = Translator(build_snapshot(parsed.resources))
    scoped = proxy_node(load_case("default_routes"))
    unscoped = dataclasses.replace(
        scoped, ip="10.10.0.11", pod_name="client-2", labels=(("app", "client"),)
    )
    a, b = translator.generate(scoped), translator.generate(unscoped)
    assert DETAILS not in _hosts(a) and DETAILS in _hosts(b)
    assert f"{DETAILS}:80" not in _vhosts(a) and f"{DETAILS}:80" in _vhosts(b)


def test_translator_keeps_proxies_selected_by_different_destination_rules_apart() -> None:
    text = (
        """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: for-v1, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {version: v1}}
  subsets: [{name: only-v1, labels: {version: v1}}]
---
"""
        + load_case("default_routes").text
    )
    parsed = parse_documents(text)
    assert parsed.ok, parsed.errors
    translator = Translator(build_snapshot(parsed.resources))
    selected = proxy_node(load_case("default_routes"))
    other = dataclasses.replace(
        selected, ip="10.10.0.11", pod_name="client-2", labels=(("app", "client"),)
    )
    subset = f"outbound|9080|only-v1|{REVIEWS}"
    assert subset in translator.generate(selected).of_type(naming.CLUSTER_TYPE)
    assert subset not in translator.generate(other).of_type(naming.CLUSTER_TYPE)


def test_wildcard_dns_names_in_egress_hosts() -> None:
    config = _config(_sidecar("  egress: [{hosts: ['*/*.other.svc.cluster.local']}]"))
    assert _hosts(config) == {DETAILS}


def test_export_to_of_services_service_entries_and_virtual_services() -> None:
    hidden = """
apiVersion: v1
kind: Service
metadata:
  name: secret
  namespace: other
  annotations: {networking.istio.io/exportTo: "."}
spec: {clusterIP: 10.96.0.71, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: shared
  namespace: other
  annotations: {networking.istio.io/exportTo: "default"}
spec: {clusterIP: 10.96.0.72, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: private-api, namespace: other}
spec:
  hosts: [api.private.example]
  exportTo: ["."]
  resolution: DNS
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: to-default, namespace: other}
spec:
  hosts: [details.other.svc.cluster.local]
  exportTo: [default]
  http: [{name: exported, route: [{destination: {host: details.other.svc.cluster.local}}]}]
---
"""
    config = _config(hidden)
    hosts = _hosts(config)
    assert "shared.other.svc.cluster.local" in hosts
    assert "secret.other.svc.cluster.local" not in hosts
    assert "api.private.example" not in hosts
    vhost = next(v for v in _http_proxy(config).virtual_hosts if v.name == f"{DETAILS}:80")
    assert [r.name for r in vhost.routes] == ["exported"]


def test_inbound_connection_pool_applies_to_service_derived_inbound_clusters() -> None:
    spec = """  workloadSelector: {labels: {app: client}}
  inboundConnectionPool:
    tcp: {maxConnections: 3}
    http: {http1MaxPendingRequests: 2, maxRequestsPerConnection: 1}
  egress: [{hosts: ["./*"]}]"""
    inbound = [
        name
        for name in _config(_sidecar(spec)).of_type(naming.CLUSTER_TYPE)
        if name.startswith("inbound|")
    ]
    assert inbound
    for name in inbound:
        threshold = _cluster(_config(_sidecar(spec)), name).circuit_breakers.thresholds[0]
        assert (threshold.max_connections.value, threshold.max_pending_requests.value) == (3, 2)
    # Without the Sidecar field, inbound clusters keep istiod's unlimited defaults.
    plain = _cluster(_config(""), inbound[0]).circuit_breakers.thresholds[0]
    assert plain.max_connections.value == 2**32 - 1


def test_egress_proxy_takes_unknown_hosts_under_allow_any() -> None:
    spec = """  outboundTrafficPolicy:
    mode: {mode}
    egressProxy: {{host: {host}, port: {{number: 80}}}}"""
    config = _config(_sidecar(spec.format(mode="ALLOW_ANY", host=GATEWAY)))
    catch_all = _http_proxy(config).virtual_hosts[-1]
    assert catch_all.name == naming.ALLOW_ANY_VHOST
    assert catch_all.routes[0].route.cluster == f"outbound|80||{GATEWAY}"
    assert f"outbound|80||{GATEWAY}" in config.of_type(naming.CLUSTER_TYPE)
    # Under REGISTRY_ONLY unknown hosts stay blocked: istiod only reads egressProxy for ALLOW_ANY.
    blocked = _config(_sidecar(spec.format(mode="REGISTRY_ONLY", host=GATEWAY)))
    assert _vhosts(blocked)[-1] == naming.BLOCK_ALL_VHOST
    plain = _http_proxy(_config("")).virtual_hosts[-1]
    assert plain.routes[0].route.cluster == naming.PASSTHROUGH_CLUSTER


def test_egress_scope_leaves_the_inbound_side_alone() -> None:
    """istiod builds inbound chains from the proxy's ServiceTargets, not from what its Sidecar
    lets it call: an egress scope that imports none of the workload's own Services changes no
    inbound listener or cluster. (It used to turn the inbound HCM into a tcp_proxy; applying or
    removing such a Sidecar drained the inbound chain and cut requests in flight: 503 UC.)"""

    def inbound(sidecar: str) -> dict[str, bytes]:
        head = "# telemetry: on\n" + sidecar + "\n---\n"
        config = generate_case(Case("unit", head + load_case("default_routes").text))
        found = {
            name: r.body.SerializeToString(deterministic=True)
            for name, r in config.of_type(naming.CLUSTER_TYPE).items()
            if name.startswith("inbound|")
        }
        for name, r in config.of_type(naming.LISTENER_TYPE).items():
            listener = listener_pb2.Listener()
            r.body.Unpack(listener)
            if listener.traffic_direction == base_pb2.INBOUND:
                found[name] = r.body.SerializeToString(deterministic=True)
        return found

    plain = inbound("")
    scoped = inbound(_sidecar(f"  egress: [{{hosts: ['other/{DETAILS}']}}]"))
    assert any(name.startswith("inbound|") for name in plain)
    assert any(not name.startswith("inbound|") for name in plain)
    assert scoped == plain
    # The HTTP port keeps its HCM (with the Service in its metrics labels), not a tcp_proxy.
    http = next(
        name
        for name in plain
        if not name.startswith("inbound|") and b"http_connection_manager" in plain[name]
    )
    assert b"client.default.svc.cluster.local" in scoped[http]
