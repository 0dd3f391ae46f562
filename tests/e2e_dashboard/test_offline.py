"""The dashboard needs no network beyond its own host: no CDN, nothing fetched at run time."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e_dashboard.conftest import DashboardPage

STATIC = Path(__file__).resolve().parents[2] / "src" / "mainsail" / "dashboard" / "static"
# The SVG namespace is a name, never fetched.
_NOT_A_REQUEST = {"http://www.w3.org/2000/svg"}


def test_no_request_leaves_for_another_host(dashboard: DashboardPage) -> None:
    for route, ready in (
        ("/graph", "graph-svg"),
        ("/mesh", "chart-rps"),
        ("/services/default/reviews", "chart-latency"),
        ("/workloads/default/reviews-v1", "inbound"),
        ("/config", "config-table"),
        ("/proxies", "proxies-table"),
        ("/traces", "updated"),
    ):
        page = dashboard.open(route)
        page.wait_for_selector(dashboard.testid(ready))
    page.wait_for_load_state("networkidle")
    assert dashboard.requested, "the page made no request at all"
    assert dashboard.refused == [], dashboard.refused
    assert any("/static/js/" in url for url in dashboard.requested)
    assert any("/api/graph" in url for url in dashboard.requested)


def test_the_static_files_name_no_other_host() -> None:
    files = [p for p in STATIC.rglob("*") if p.suffix in (".html", ".js", ".css")]
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
        assert urls <= _NOT_A_REQUEST, f"{path.relative_to(STATIC)} names {urls - _NOT_A_REQUEST}"
        assert "@import" not in text and "cdn" not in text.lower(), path
