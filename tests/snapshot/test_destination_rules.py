"""DestinationRule lookup (proxy ns → service ns → root ns), merging, and policy layering."""

from __future__ import annotations

from datetime import timedelta

from mainsail.config.parse import parse_documents
from mainsail.snapshot.destination_rules import destination_rule_for, policy_for
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot

HOST = "reviews.shop.svc.cluster.local"


def _dr(name: str, namespace: str, body: str, created: str = "2024-01-01T00:00:00Z") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: "{created}"}}
spec:
{body}
---
"""


def _snapshot(*docs: str) -> MeshSnapshot:
    parsed = parse_documents("".join(docs))
    assert parsed.ok, parsed.errors
    return build_snapshot(parsed.resources)


def _names(snapshot: MeshSnapshot, proxy_namespace: str, host: str = HOST) -> list[str]:
    rule = destination_rule_for(snapshot, proxy_namespace, host, "shop")
    return [] if rule is None else [r.name for r in rule.sources]


def test_lookup_order_proxy_then_service_then_root_namespace() -> None:
    root = _dr("root", "istio-system", "  host: reviews.shop.svc.cluster.local")
    service = _dr("service", "shop", "  host: reviews")
    proxy = _dr("proxy", "client", "  host: reviews.shop.svc.cluster.local")
    assert _names(_snapshot(root, service, proxy), "client") == ["proxy"]
    assert _names(_snapshot(root, service), "client") == ["service"]
    assert _names(_snapshot(root), "client") == ["root"]
    assert _names(_snapshot(), "client") == []


def test_short_host_resolves_in_the_rule_namespace() -> None:
    # "reviews" in namespace client means reviews.client.svc..., not the shop service
    snapshot = _snapshot(_dr("short", "client", "  host: reviews"))
    assert _names(snapshot, "client") == []


def test_export_to_hides_a_service_namespace_rule() -> None:
    hidden = _dr("hidden", "shop", '  host: reviews\n  exportTo: ["."]')
    root = _dr("root", "istio-system", f"  host: {HOST}")
    assert _names(_snapshot(hidden, root), "client") == ["root"]
    assert _names(_snapshot(hidden, root), "shop") == ["hidden"]  # own namespace sees it


def test_workload_selector_rules_are_skipped() -> None:
    selected = _dr(
        "selected", "shop", "  host: reviews\n  workloadSelector: {matchLabels: {app: x}}"
    )
    assert _names(_snapshot(selected), "shop") == []


def test_exact_host_beats_wildcard_and_longer_wildcard_beats_shorter() -> None:
    wide = _dr("wide", "shop", '  host: "*.svc.cluster.local"')
    narrow = _dr("narrow", "shop", '  host: "*.shop.svc.cluster.local"')
    exact = _dr("exact", "shop", "  host: reviews")
    assert _names(_snapshot(wide, narrow, exact), "client") == ["exact"]
    assert _names(_snapshot(wide, narrow), "client") == ["narrow"]


def test_rules_for_one_host_merge_subsets_and_keep_oldest_policy() -> None:
    old = _dr(
        "old",
        "shop",
        """  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]""",
        "2024-01-01T00:00:00Z",
    )
    new = _dr(
        "new",
        "shop",
        """  host: reviews
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v1, labels: {version: other}}, {name: v2, labels: {version: v2}}]""",
        "2024-02-01T00:00:00Z",
    )
    newest = _dr(
        "newest",
        "shop",
        """  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}""",
        "2024-03-01T00:00:00Z",
    )
    rule = destination_rule_for(_snapshot(newest, new, old), "client", HOST, "shop")
    assert rule is not None
    assert [r.name for r in rule.sources] == ["old", "new", "newest"]
    assert [(s.name, dict(s.labels)) for s in rule.subsets] == [
        ("v1", {"version": "v1"}),  # the first definition of a name wins
        ("v2", {"version": "v2"}),
    ]
    # the oldest rule has no policy: the next one's is used
    assert rule.traffic_policy is not None and rule.traffic_policy.load_balancer is not None
    assert rule.traffic_policy.load_balancer.simple == "RANDOM"


LAYERED = _dr(
    "layered",
    "shop",
    """  host: reviews
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {tcp: {maxConnections: 10}}
    outlierDetection: {consecutive5xxErrors: 3}
    portLevelSettings:
    - port: {number: 9080}
      loadBalancer: {simple: ROUND_ROBIN}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {tcp: {connectTimeout: 2s}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      outlierDetection: {consecutive5xxErrors: 9}
      portLevelSettings:
      - port: {number: 9090}
        connectionPool: {tcp: {maxConnections: 99}}
""",
)


def _policy(port: int, subset: str = "") -> dict[str, object]:
    rule = destination_rule_for(_snapshot(LAYERED), "client", HOST, "shop")
    found = policy_for(rule, port, subset)
    return {
        k: v.model_dump(exclude_none=True, exclude_defaults=True, by_alias=True)
        for k, v in found.items()
    }


def test_top_level_policy() -> None:
    assert _policy(9999) == {
        "load_balancer": {"simple": "RANDOM"},
        "connection_pool": {"tcp": {"maxConnections": 10}},
        "outlier_detection": {"consecutive5xxErrors": 3},
    }


def test_port_level_settings_replace_every_block() -> None:
    # no inheritance from the destination level (istiod's MergeTrafficPolicy)
    assert _policy(9080) == {"load_balancer": {"simple": "ROUND_ROBIN"}}


def test_subset_blocks_replace_blocks_of_the_same_name() -> None:
    assert _policy(9999, "v1") == {
        "load_balancer": {"simple": "RANDOM"},
        "connection_pool": {"tcp": {"connectTimeout": timedelta(seconds=2)}},
        "outlier_detection": {"consecutive5xxErrors": 3},
    }
    assert _policy(9080, "v1") == {
        "load_balancer": {"simple": "ROUND_ROBIN"},
        "connection_pool": {"tcp": {"connectTimeout": timedelta(seconds=2)}},
    }


def test_subset_port_level_settings_win_last() -> None:
    assert _policy(9090, "v2") == {"connection_pool": {"tcp": {"maxConnections": 99}}}
    assert _policy(9999, "v2")["outlier_detection"] == {"consecutive5xxErrors": 9}


def test_unknown_subset_uses_the_top_level() -> None:
    assert _policy(9999, "nope") == _policy(9999)


def test_no_rule_no_policy() -> None:
    assert policy_for(None, 80) == {}


def _selected(snapshot: MeshSnapshot, proxy_namespace: str, labels: dict[str, str]) -> list[str]:
    rule = destination_rule_for(snapshot, proxy_namespace, HOST, "shop", labels)
    return [] if rule is None else [r.name for r in rule.sources]


SELECTED = "  host: reviews.shop.svc.cluster.local\n  workloadSelector: {matchLabels: {app: web}}"


def test_workload_selector_rule_wins_for_the_proxies_it_selects_in_its_namespace() -> None:
    plain = _dr("plain", "client", "  host: reviews.shop.svc.cluster.local")
    selected = _dr("selected", "client", SELECTED, created="2025-01-01T00:00:00Z")
    snapshot = _snapshot(plain, selected)
    assert _selected(snapshot, "client", {"app": "web", "version": "v1"}) == ["selected"]
    assert _selected(snapshot, "client", {"app": "batch"}) == ["plain"]
    assert _selected(snapshot, "client", {}) == ["plain"]


def test_workload_selector_rule_is_never_exported_to_other_namespaces() -> None:
    selected = _dr("selected", "shop", SELECTED)
    fallback = _dr("fallback", "istio-system", "  host: reviews.shop.svc.cluster.local")
    snapshot = _snapshot(selected, fallback)
    # A proxy in another namespace with matching labels: the shop rule does not apply.
    assert _selected(snapshot, "client", {"app": "web"}) == ["fallback"]
    assert _selected(snapshot, "shop", {"app": "web"}) == ["selected"]


def test_unselected_proxy_with_only_selector_rules_in_its_namespace_gets_none() -> None:
    """istiod's quirk: the proxy namespace holds rules for the host, none applies, and the
    service namespace is not consulted."""
    selected = _dr("selected", "client", SELECTED)
    service = _dr("service", "shop", "  host: reviews")
    assert _selected(_snapshot(selected, service), "client", {"app": "batch"}) == []


def test_rules_with_the_same_selector_merge() -> None:
    first = _dr("first", "client", SELECTED + "\n  subsets: [{name: v1, labels: {v: '1'}}]")
    second = _dr(
        "second",
        "client",
        SELECTED + "\n  subsets: [{name: v2, labels: {v: '2'}}]",
        created="2025-01-01T00:00:00Z",
    )
    rule = destination_rule_for(_snapshot(first, second), "client", HOST, "shop", {"app": "web"})
    assert rule is not None and [s.name for s in rule.subsets] == ["v1", "v2"]
