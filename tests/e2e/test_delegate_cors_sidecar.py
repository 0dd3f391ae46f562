"""CORS preflights answered by Envoy, VirtualService delegation and Sidecar egress scoping, on
the shared BookInfo mesh with real Envoys."""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mainsail.testing.mesh import LocalMesh
from tests.e2e.conftest import SAMPLES
from tests.e2e.helpers import page_versions, wait_for_versions, wait_until

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _apply_text(mesh: LocalMesh, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(text)
        file.flush()
        result = mesh.cli("apply", "-f", file.name)
    assert result.returncode == 0, result.stdout + result.stderr


def _request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, *, via: str = ""
) -> tuple[int, dict[str, str]]:
    opener = _DIRECT
    if via:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": via}))
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


CORS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cors-shop}
spec:
  hosts: [cors.example]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {prefix: /productpage}}]
    route: [{destination: {host: productpage, port: {number: 9080}}}]
    corsPolicy:
      allowOrigins: [{exact: "https://shop.example"}, {prefix: "https://dev."}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-request-id]
      maxAge: 2h
      allowCredentials: true
"""


def test_cors_preflight_is_answered_by_envoy(mesh: LocalMesh) -> None:
    _apply_text(mesh, CORS)
    url = mesh.gateway_url("/productpage")
    preflight = {
        "Host": "cors.example",
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
    }

    def answered() -> bool:
        status, headers = _request(url, "OPTIONS", preflight)
        return status == 200 and "access-control-allow-origin" in headers

    wait_until(answered, 10, "a CORS preflight answer")
    status, headers = _request(url, "OPTIONS", preflight)
    assert headers["access-control-allow-origin"] == "https://shop.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "7200"
    assert headers["access-control-allow-credentials"] == "true"
    assert "x-envoy-upstream-service-time" not in headers  # Envoy answered, not the app
    # A prefix-matched origin; an actual request gets the expose header.
    status, headers = _request(url, "GET", {"Host": "cors.example", "Origin": "https://dev.a"})
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://dev.a"
    assert headers["access-control-expose-headers"] == "x-request-id"
    # An origin no policy admits gets no CORS headers.
    status, headers = _request(url, "GET", {"Host": "cors.example", "Origin": "https://evil"})
    assert status == 200 and "access-control-allow-origin" not in headers


DELEGATE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews-delegate}
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-delegate}
spec:
  http:
  - match: [{uri: {prefix: /reviews/0}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v2}}]
"""


def test_delegate_routes_apply(mesh: LocalMesh) -> None:
    result = mesh.cli("apply", "-f", str(SAMPLES / "destination-rule-all.yaml"))
    assert result.returncode == 0, result.stderr
    _apply_text(mesh, DELEGATE)
    # productpage asks for /reviews/0: the delegate's first route, merged under the root's.
    wait_for_versions(mesh, {"v3"})
    assert page_versions(mesh, 20) == {"v3": 20}


SCOPE = """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage-scope}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress: [{hosts: ["./details.default.svc.cluster.local"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""


@pytest.fixture
def scoped(mesh: LocalMesh) -> Iterator[LocalMesh]:
    _apply_text(mesh, SCOPE)
    yield mesh
    mesh.cli("delete", "sidecars", "productpage-scope", check=True)
    wait_for_versions(mesh, {"v1", "v2", "v3"})


def test_sidecar_egress_scope_shrinks_the_proxy_config_and_blocks_the_rest(
    scoped: LocalMesh,
) -> None:
    productpage = scoped.pod("productpage")

    def clusters() -> set[str]:
        dump = scoped.admin(productpage, "/config_dump?resource=dynamic_active_clusters")
        return {c["cluster"]["name"] for c in dump["configs"]}

    reviews = "outbound|9080||reviews.default.svc.cluster.local"
    wait_until(lambda: reviews not in clusters(), 10, "reviews cluster gone from productpage")
    found = clusters()
    assert "outbound|9080||details.default.svc.cluster.local" in found
    assert not any("ratings" in name or "reviews" in name for name in found)
    # reviews is out of scope: REGISTRY_ONLY's block_all answers 502, the page says so.
    proxy = f"http://{productpage.ip}:{productpage.proxy_ports.outbound}"
    status, _ = _request("http://reviews:9080/reviews/0", via=proxy)
    assert status == 502
    status, _ = _request("http://details:9080/details/0", via=proxy)
    assert status == 200
    assert page_versions(scoped, 5) == {"unavailable": 5}
    # Other workloads are not scoped.
    reviews_pod = next(p for p in scoped.pods() if p.name.startswith("reviews-v1"))
    via_reviews = f"http://{reviews_pod.ip}:{reviews_pod.proxy_ports.outbound}"
    assert _request("http://ratings:9080/ratings/0", via=via_reviews)[0] == 200
