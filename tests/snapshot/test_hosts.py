"""Host resolution and wildcard matching, as istiod does them."""

from __future__ import annotations

import pytest

from mainsail.snapshot.hosts import (
    host_matches,
    hosts_intersect,
    resolve_gateway_name,
    resolve_short_name,
    specificity,
)


@pytest.mark.parametrize(
    ("host", "namespace", "expected"),
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("reviews", "prod", "reviews.prod.svc.cluster.local"),
        ("reviews.default", "prod", "reviews.default"),  # a dot: taken literally
        ("reviews.default.svc.cluster.local", "prod", "reviews.default.svc.cluster.local"),
        ("*", "default", "*"),
        ("*.example.com", "default", "*.example.com"),
        ("10.1.2.3", "default", "10.1.2.3"),
        ("10.1.0.0/16", "default", "10.1.0.0/16"),
        ("::1", "default", "::1"),
    ],
)
def test_resolve_short_name(host: str, namespace: str, expected: str) -> None:
    assert resolve_short_name(host, namespace) == expected


def test_resolve_short_name_uses_the_domain() -> None:
    assert resolve_short_name("a", "b", "corp.local") == "a.b.svc.corp.local"


@pytest.mark.parametrize(
    ("gateway", "expected"),
    [
        ("mesh", "mesh"),
        ("public", "shop/public"),
        ("istio-system/public", "istio-system/public"),
        ("./public", "shop/public"),
        ("public.istio-system.svc.cluster.local", "istio-system/public"),
        ("public.istio-system", "istio-system/public"),
    ],
)
def test_resolve_gateway_name(gateway: str, expected: str) -> None:
    assert resolve_gateway_name(gateway, "shop") == expected


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("*", "anything.example.com", True),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.example.org", False),
        ("a.example.com", "a.example.com", True),
        ("a.example.com", "b.example.com", False),
    ],
)
def test_host_matches(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("*", "x.com", True),
        ("x.com", "*", True),
        ("*.example.com", "a.example.com", True),
        ("a.example.com", "*.example.com", True),
        ("*.example.com", "*.a.example.com", True),
        ("*.a.example.com", "*.example.com", True),
        ("*.example.com", "*.example.org", False),
        ("a.example.com", "a.example.com", True),
        ("a.example.com", "b.example.com", False),
        ("*.example.com", "example.com", False),
    ],
)
def test_hosts_intersect(a: str, b: str, expected: bool) -> None:
    assert hosts_intersect(a, b) is expected
    assert hosts_intersect(b, a) is expected


def test_specificity_orders_exact_then_longest_wildcard() -> None:
    patterns = ["*", "*.example.com", "a.example.com", "*.a.example.com"]
    assert sorted(patterns, key=specificity) == [
        "a.example.com",
        "*.a.example.com",
        "*.example.com",
        "*",
    ]
