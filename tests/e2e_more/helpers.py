"""What the tests of this package share beyond ``tests.e2e_traffic.helpers``: rules of any kind,
the pod that answered, and requests from chosen source addresses."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from mainsail.testing.waiting import wait_for
from tests.e2e_traffic.helpers import Reply, Traffic

# Every kind a test of this package may apply; all are removed after it.
RULE_KINDS = ("VirtualService", "DestinationRule", "ServiceEntry", "WorkloadEntry", "Sidecar")
Z_9999 = 3.89  # two-sided 99.99 %: a test checks several shares at once


def within_binomial(count: int, n: int, p: float) -> bool:
    """``count`` successes of ``n`` trials is plausible for probability ``p`` (99.99 %)."""
    return abs(count - n * p) <= Z_9999 * math.sqrt(n * p * (1 - p))


async def apply_until(
    traffic: Traffic, text: str, condition: Callable[[], Any], message: str
) -> None:
    """Apply Istio YAML, then wait for what the user would see once it is in force."""
    await asyncio.to_thread(traffic.api.apply, text, "test")
    await wait_for(condition, timeout=10, message=message)


async def remove_rules(traffic: Traffic) -> None:
    """Delete every rule a test applied; wait until the client's sidecar is as it was at start."""
    listed = await asyncio.to_thread(traffic.api.list_config)
    keys = [
        (item["kind"], item["metadata"]["namespace"], item["metadata"]["name"])
        for item in listed["items"]
        if item["kind"] in RULE_KINDS
    ]
    if keys:
        await asyncio.to_thread(traffic.api.delete_keys, keys)
    await wait_for(
        lambda: traffic.client_config() == traffic.baseline,
        timeout=10,
        message="client sidecar back to its original config",
    )


def pod_of(reply: Reply) -> str:
    """The echo pod that answered (asserting that one did)."""
    assert reply.status == 200, (reply.status, reply.body[:200])
    return str(reply.json()["pod"])


async def pods(
    traffic: Traffic, url: str, n: int, *, headers: Mapping[str, str] | None = None
) -> Counter[str]:
    """Which pods answered ``n`` requests (20 at a time)."""
    return Counter(pod_of(r) for r in await traffic.many(url, n, headers=headers))


async def get_from(traffic: Traffic, source: str, url: str) -> Reply:
    """One request through the client's sidecar on a new connection from address ``source``."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(url, proxy=traffic.proxy, timeout=aiohttp.ClientTimeout(total=10)) as response,
    ):
        return Reply(response.status, response.headers, await response.text())


def lb_policy(traffic: Traffic, cluster: str) -> str:
    """The client Envoy's ``lb_policy`` for a cluster (``ROUND_ROBIN`` when unset, Envoy's
    default)."""
    found: dict[str, Any] = traffic.client_config()[f"cluster/{cluster}"]
    return str(found.get("lb_policy", "ROUND_ROBIN"))


async def apply_hashing(traffic: Traffic, text: str) -> None:
    """Apply a consistent-hash DestinationRule; wait until the client's routes hash too (the
    hash policy lives in the route, which Envoy may receive after the cluster)."""
    await traffic.apply(text)
    await wait_for(
        lambda: "hash_policy" in json.dumps(traffic.client_config()),
        timeout=10,
        message="a hash policy on the client's routes",
    )
