"""What a user sees on the product page, and reading proxies' config versions."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from mainsail.platform.pod import PodSpec
from mainsail.testing.mesh import LocalMesh, http_get


def reviews_version(body: str) -> str:
    """Which reviews version rendered the page: v1 no stars, v2 black, v3 red."""
    if "Sorry, product reviews are currently unavailable" in body:
        return "unavailable"
    if 'color="black"' in body:
        return "v2"
    if 'color="red"' in body:
        return "v3"
    return "v1"


def page_versions(
    mesh: LocalMesh, count: int, headers: dict[str, str] | None = None
) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        status, body = http_get(mesh.gateway_url(), headers=headers)
        assert status == 200, body[:500]
        assert "Book Details" in body
        seen[reviews_version(body)] += 1
    return seen


def wait_for_versions(mesh: LocalMesh, allowed: set[str], timeout: float = 10) -> float:
    """Until ten pages in a row show only ``allowed`` reviews versions (routing has converged)."""
    return wait_until(lambda: set(page_versions(mesh, 10)) <= allowed, timeout, f"only {allowed}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition``; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def dynamic_versions(mesh: LocalMesh, pod: PodSpec) -> dict[str, Any]:
    """Every dynamic resource's name and version_info the proxy holds (a config fingerprint)."""
    dump = mesh.admin(pod, "/config_dump")
    found: dict[str, Any] = {}
    for config in dump["configs"]:
        for section in ("dynamic_active_clusters", "dynamic_listeners", "dynamic_route_configs"):
            for item in config.get(section, []):
                inner = (
                    item.get("cluster")
                    or item.get("route_config")
                    or item.get("active_state", {}).get("listener")
                    or {}
                )
                found[f"{section}/{inner.get('name', item.get('name'))}"] = item.get(
                    "version_info", item.get("active_state", {}).get("version_info")
                )
    return found
