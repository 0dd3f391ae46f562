"""A ``TranslationCache`` hit is indistinguishable from a miss: translating through a warm cache
gives the very versions that translating without one gives, for every resource."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
import yaml

from mainsail import naming
from mainsail.config.base import Resource
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.generate import Translator, generate
from mainsail.xds.resources import ProxyConfig
from mainsail.xds.translation_cache import Same, TranslationCache
from tests.testing.bookinfo_mesh import BookInfo, _parsed, _platform, _pods, cluster, sample
from tests.xds.cases import case_names, load_case, proxy_node


def versions(config: ProxyConfig) -> dict[str, dict[str, str]]:
    return {
        type_url: {name: r.version for name, r in config.of_type(type_url).items()}
        for type_url in naming.PUSH_ORDER
    }


def assert_same_as_uncached(
    resources: Sequence[Resource], nodes: Sequence[ProxyNode], cache: TranslationCache
) -> None:
    snapshot = build_snapshot(resources)
    translator = Translator(snapshot, cache)
    for node in nodes:
        assert versions(translator.generate(node)) == versions(generate(snapshot, node))


@pytest.mark.parametrize("name", case_names())
def test_golden_case_through_a_warm_cache(name: str) -> None:
    case = load_case(name)
    parsed = parse_documents(case.text, source=f"{name}.yaml")
    assert parsed.ok
    cache = TranslationCache()
    node = proxy_node(case)
    for _ in range(2):  # cold, then every piece a hit (same objects, new snapshot)
        assert_same_as_uncached(parsed.resources, [node], cache)


def _bookinfo(*networking: str, extra: str = "") -> list[Resource]:
    found = list(_platform("10.40.0"))
    for name in networking:
        found += _parsed(sample(f"bookinfo/networking/{name}"))
    if extra:
        found += _parsed(extra)
    return found


def test_changed_virtual_service_and_rule_through_one_cache() -> None:
    """A sequence of snapshots sharing most objects (what the control plane sees), including a
    changed weight, a changed DestinationRule and a sourceLabels route."""
    base = _bookinfo()
    rules = _parsed(sample("bookinfo/networking/destination-rule-all.yaml"))
    v1 = _parsed(sample("bookinfo/networking/virtual-service-all-v1.yaml"))
    shift = _parsed(sample("bookinfo/networking/virtual-service-reviews-50-v3.yaml"))
    shift_80 = _parsed(
        sample("bookinfo/networking/virtual-service-reviews-50-v3.yaml")
        .replace("weight: 50\n", "weight: 80\n", 1)
        .replace("weight: 50\n", "weight: 20\n", 1)
    )
    sticky = _parsed(
        sample("bookinfo/networking/destination-rule-all.yaml").replace(
            "host: reviews\n",
            "host: reviews\n  trafficPolicy:\n    loadBalancer:\n"
            "      consistentHash: {httpHeaderName: x-user}\n",
            1,
        )
    )
    by_source = _parsed(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\n"
        "spec:\n  hosts: [reviews]\n  http:\n"
        "  - match: [{sourceLabels: {app: productpage}}]\n"
        "    route: [{destination: {host: reviews, subset: v2}}]\n"
        "  - route: [{destination: {host: reviews, subset: v1}}]\n"
    )
    mesh = BookInfo(build_snapshot(base), "10.40.0")
    productpage = mesh.productpage()
    nodes = [
        productpage,
        dataclasses.replace(productpage, labels=(("app", "details"),)),
        mesh.gateway(),
    ]
    cache = TranslationCache()
    for extra in (v1, shift, shift_80, shift, (*shift, *sticky), (*shift, *rules), by_source, v1):
        objects = [*base, *(rules if extra is not sticky else ()), *extra]
        assert_same_as_uncached(objects, nodes, cache)
        assert_same_as_uncached(objects, nodes, cache)


def test_same_is_identity_not_equality() -> None:
    a, b = [1], [1]
    assert Same(a) == Same(a)
    assert Same(a) != Same(b)
    assert len({Same(a), Same(a), Same(b)}) == 2


def test_entries_not_used_for_two_rounds_are_dropped() -> None:
    cache = TranslationCache()
    cache.new_round()
    assert cache.get("k", lambda: "first") == "first"
    cache.new_round()
    assert cache.get("k", lambda: "second") == "first"  # used in the previous round: kept
    cache.new_round()
    cache.new_round()
    assert cache.get("k", lambda: "third") == "third"


def test_peer_authentication_changes_miss_the_cached_service_clusters() -> None:
    """Auto mTLS reads the namespace's PeerAuthentication (socket matches) and each endpoint's
    workload policy (EDS tlsMode marks): a change to either must not be served from the cache."""
    # BookInfo with sidecars, as the platform labels them (the gateway has none).
    manifests = sample("ingress/istio-ingressgateway.yaml") + "\n---\n"
    manifests += sample("bookinfo/platform/bookinfo.yaml")
    pods = list(yaml.safe_load_all(_pods(manifests, "10.40.0")))
    for pod in pods:
        if "istio" not in pod["metadata"]["labels"]:
            pod["metadata"]["labels"][naming.TLS_MODE_LABEL] = naming.TLS_MODE_ISTIO
    base = [*_parsed(manifests), *_parsed(yaml.safe_dump_all(pods))]
    namespace_disable = _parsed(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: DISABLE}\n"
    )
    ratings_port_disable = _parsed(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: ratings, namespace: default}\nspec:\n"
        "  selector: {matchLabels: {app: ratings}}\n"
        '  portLevelMtls: {"9080": {mode: DISABLE}}\n'
    )
    settings = MeshConfig()  # one instance, as the control plane keeps it across snapshots
    mesh = BookInfo(build_snapshot(base, settings), "10.40.0")
    nodes = [mesh.productpage(), mesh.gateway()]
    cache = TranslationCache()
    seen: list[dict[str, dict[str, str]]] = []
    for extra in ((), namespace_disable, (), ratings_port_disable, ()):
        snapshot = build_snapshot([*base, *extra], settings)
        translator = Translator(snapshot, cache)
        for node in nodes:
            assert versions(translator.generate(node)) == versions(generate(snapshot, node))
        seen.append(versions(generate(snapshot, nodes[0])))
    clusters, endpoints = naming.CLUSTER_TYPE, naming.ENDPOINT_TYPE
    assert seen[1][clusters] != seen[0][clusters]  # the policy changed what the proxy gets
    assert seen[3][endpoints] != seen[0][endpoints]
    assert seen[2] == seen[0] == seen[4]


def test_a_destination_rule_re_translates_only_the_hosts_it_can_apply_to() -> None:
    """Service clusters and vhosts read the rules of their own hosts (``xds.rule_inputs``): a
    rule for a host no service has reuses every service's clusters; a rule for one host, exact
    or wildcard, changes what it applies to and nothing else, and a hit still equals a miss."""
    base = [*_bookinfo(), *_parsed(sample("bookinfo/networking/virtual-service-all-v1.yaml"))]

    def rule(name: str, host: str, policy: str) -> tuple[Resource, ...]:
        return _parsed(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: {name}}}\nspec:\n  host: '{host}'\n"
            f"  trafficPolicy: {policy}\n"
        )

    nowhere = rule("nowhere", "no-such-host", "{connectionPool: {tcp: {maxConnections: 7}}}")
    hashed = "{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}"
    ratings = rule("ratings", "ratings", hashed)
    everyone = rule("everyone", "*.default.svc.cluster.local", hashed)
    settings = MeshConfig()
    mesh = BookInfo(build_snapshot(base, settings), "10.40.0")
    node = mesh.productpage()
    cache = TranslationCache()
    seen = []
    for extra in ((), nowhere, (*nowhere, *ratings), (*nowhere, *ratings, *everyone)):
        snapshot = build_snapshot([*base, *extra], settings)
        config = Translator(snapshot, cache).generate(node)
        assert versions(config) == versions(generate(snapshot, node))
        seen.append(config)
    clusters = [c.of_type(naming.CLUSTER_TYPE) for c in seen]
    routes = [versions(c)[naming.ROUTE_TYPE] for c in seen]
    details, ratings_cluster = cluster("details"), cluster("ratings")
    assert clusters[1].shared is clusters[0].shared  # type: ignore[attr-defined]
    assert routes[1] == routes[0]
    # An exact rule: only ratings' cluster is new (and its route's hash policy).
    assert clusters[2][details] is clusters[1][details]
    assert clusters[2][ratings_cluster].version != clusters[1][ratings_cluster].version
    assert routes[2] != routes[1]
    # A wildcard rule reaches the hosts without an exact one (the others are re-translated:
    # an exact rule a proxy cannot use lets the wildcard apply, so both are in the key).
    assert clusters[3][details].version != clusters[2][details].version
    assert clusters[3][ratings_cluster].version == clusters[2][ratings_cluster].version
