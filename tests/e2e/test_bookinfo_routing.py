"""BookInfo through the ingress gateway and real Envoy sidecars: Istio's routing tasks."""

from __future__ import annotations

import math
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from mainsail.testing.mesh import LocalMesh
from tests.e2e.conftest import SAMPLES
from tests.e2e.helpers import page_versions, reviews_version, wait_for_versions, wait_until


def _apply(mesh: LocalMesh, *names: str) -> None:
    for name in names:
        result = mesh.cli("apply", "-f", str(SAMPLES / name))
        assert result.returncode == 0, result.stdout + result.stderr


def test_product_page_shows_details_and_every_reviews_version(mesh: LocalMesh) -> None:
    seen = page_versions(mesh, 60)
    assert set(seen) == {"v1", "v2", "v3"}, seen


def test_all_v1_sends_every_request_to_reviews_v1(mesh: LocalMesh) -> None:
    _apply(mesh, "destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    wait_for_versions(mesh, {"v1"})
    assert page_versions(mesh, 40) == {"v1": 40}


def test_fifty_fifty_splits_within_binomial_bound(mesh: LocalMesh) -> None:
    _apply(mesh, "destination-rule-all.yaml", "virtual-service-reviews-50-v3.yaml")
    wait_for_versions(mesh, {"v1", "v3"})
    n = 200
    seen = page_versions(mesh, n)
    assert set(seen) <= {"v1", "v3"}, seen
    # 99.9 % two-sided bound for Binomial(200, 0.5): z = 3.29.
    margin = 3.29 * math.sqrt(n * 0.25)
    assert abs(seen["v1"] - n / 2) <= margin, seen


def test_signed_in_jason_sees_reviews_v2(mesh: LocalMesh) -> None:
    _apply(mesh, "destination-rule-all.yaml", "virtual-service-reviews-test-v2.yaml")
    wait_for_versions(mesh, {"v1"})
    jar = CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    form = urllib.parse.urlencode({"username": "jason", "passwd": "jason"}).encode()
    with opener.open(mesh.gateway_url("/login"), data=form, timeout=10) as response:
        assert response.status == 200  # redirected to the product page
        assert "jason" in response.read().decode()
    for _ in range(10):
        with opener.open(mesh.gateway_url(), timeout=10) as response:
            assert reviews_version(response.read().decode()) == "v2"
    assert page_versions(mesh, 5) == {"v1": 5}


def test_an_applied_change_is_seen_in_traffic_within_one_second(mesh: LocalMesh) -> None:
    _apply(mesh, "destination-rule-all.yaml", "virtual-service-all-v1.yaml")
    wait_for_versions(mesh, {"v1"})
    result = mesh.cli("apply", "-f", str(SAMPLES / "virtual-service-reviews-v3.yaml"))
    applied = time.monotonic()
    assert result.returncode == 0, result.stderr
    wait_until(lambda: page_versions(mesh, 1) == {"v3": 1}, 5, "reviews v3")
    took = time.monotonic() - applied
    assert took <= 1.0, f"change visible {took:.3f}s after apply returned"


def test_get_lists_applied_virtual_services(mesh: LocalMesh) -> None:
    _apply(mesh, "virtual-service-all-v1.yaml")
    result = mesh.cli("get", "virtualservices")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "GATEWAYS", "HOSTS"]
    names = {line.split()[0] for line in lines[1:]}
    assert {"bookinfo", "reviews", "ratings", "details", "productpage"} <= names
