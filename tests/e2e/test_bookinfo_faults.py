"""Istio's fault-injection task on BookInfo: jason's calls to ratings are delayed 7 s (which
outlasts productpage's two 3 s tries of reviews) or aborted with 500."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from mainsail.testing.mesh import LocalMesh
from tests.e2e.conftest import SAMPLES
from tests.e2e.helpers import reviews_version, wait_for_versions, wait_until

REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"


def _apply(mesh: LocalMesh, *names: str) -> None:
    for name in names:
        result = mesh.cli("apply", "-f", str(SAMPLES / name))
        assert result.returncode == 0, result.stdout + result.stderr


def _signed_in_as_jason(mesh: LocalMesh) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(CookieJar())
    )
    form = urllib.parse.urlencode({"username": "jason", "passwd": "jason"}).encode()
    with opener.open(mesh.gateway_url("/login"), data=form, timeout=10) as response:
        assert response.status == 200
    return opener


def _page(opener: urllib.request.OpenerDirector, url: str) -> tuple[str, float]:
    started = time.monotonic()
    with opener.open(url, timeout=30) as response:
        assert response.status == 200
        return response.read().decode(), time.monotonic() - started


def _holds(mesh: LocalMesh, pod: str, *texts: str) -> bool:
    dump = json.dumps(mesh.admin(mesh.pod(pod), "/config_dump"))
    return all(text in dump for text in texts)


def _jason_with_ratings_fault(
    mesh: LocalMesh, sample: str, fault: str
) -> urllib.request.OpenerDirector:
    """Istio's task: everyone on v1, jason on reviews v2 (which calls ratings), plus ``sample``."""
    jason = _signed_in_as_jason(mesh)  # before the fault: signing in lands on the product page
    _apply(
        mesh,
        "destination-rule-all.yaml",
        "virtual-service-all-v1.yaml",
        "virtual-service-reviews-test-v2.yaml",
        sample,
    )
    wait_until(
        lambda: (
            _holds(mesh, "productpage", '/virtual-service/reviews"', '"jason"')
            and _holds(mesh, "reviews-v2", '/virtual-service/ratings"', fault)
        ),
        10,
        "jason's routes on productpage and the ratings fault on reviews v2",
    )
    wait_for_versions(mesh, {"v1"})
    return jason


def test_ratings_delay_for_jason_exposes_productpage_timeout(mesh: LocalMesh) -> None:
    jason = _jason_with_ratings_fault(mesh, "virtual-service-ratings-test-delay.yaml", '"7s"')
    body, took = _page(jason, mesh.gateway_url())
    assert REVIEWS_UNAVAILABLE in body
    assert "jason" in body
    # Two tries of 3 s each, not the 7 s of the delay.
    assert 6 <= took < 7, took
    # Everybody else is not delayed and sees reviews v1.
    anonymous = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    body, took = _page(anonymous, mesh.gateway_url())
    assert reviews_version(body) == "v1" and took < 3


def test_ratings_abort_for_jason_shows_ratings_unavailable(mesh: LocalMesh) -> None:
    jason = _jason_with_ratings_fault(
        mesh, "virtual-service-ratings-test-abort.yaml", '"http_status": 500'
    )
    body, took = _page(jason, mesh.gateway_url())
    assert RATINGS_UNAVAILABLE in body and REVIEWS_UNAVAILABLE not in body
    assert 'color="black"' not in body  # reviews v2, without its stars
    assert took < 3
