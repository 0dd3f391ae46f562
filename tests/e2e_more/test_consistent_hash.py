"""DestinationRule ``consistentHash`` with real Envoys: the same key always reaches the same
echo pod of ``lb`` (three pods), different keys spread over several — by header (ring hash and
Maglev), by a cookie Envoy generates with a TTL, by query parameter and by source IP."""

from __future__ import annotations

import pytest

from mainsail.testing.loopback import random_loopback_address
from tests.e2e_more.helpers import apply_hashing, get_from, lb_policy, pod_of, pods
from tests.e2e_traffic.helpers import Traffic, cluster_name

LB = cluster_name("lb")


def _hash_rule(consistent_hash: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: lb}}
spec:
  host: lb
  trafficPolicy:
    loadBalancer:
      consistentHash: {consistent_hash}
"""


@pytest.mark.parametrize(
    ("algorithm", "envoy_policy"),
    [("ringHash: {minimumRingSize: 1024}", "RING_HASH"), ("maglev: {tableSize: 65537}", "MAGLEV")],
    ids=["ring-hash", "maglev"],
)
async def test_header_hash_keeps_each_key_on_one_pod(
    traffic: Traffic, algorithm: str, envoy_policy: str
) -> None:
    await apply_hashing(traffic, _hash_rule(f"{{httpHeaderName: x-user, {algorithm}}}"))
    assert lb_policy(traffic, LB) == envoy_policy
    chosen = {}
    for key in range(12):
        seen = await pods(traffic, "http://lb:8080/", 6, headers={"x-user": f"user-{key}"})
        assert len(seen) == 1, (key, seen)  # every request of one key: one pod
        chosen[key] = next(iter(seen))
    assert len(set(chosen.values())) >= 2, chosen  # 12 keys on one of 3 pods: p < 1e-5


async def test_generated_cookie_with_ttl_makes_a_client_sticky(traffic: Traffic) -> None:
    await apply_hashing(traffic, _hash_rule("{httpCookie: {name: sticky, path: /, ttl: 60s}}"))
    first = await traffic.get("http://lb:8080/")
    # No cookie yet: Envoy made one (its TTL as Max-Age) and hashed on it.
    [set_cookie] = first.headers.getall("set-cookie")  # type: ignore[attr-defined]
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    assert name_value.startswith("sticky=") and len(name_value) > len("sticky=")
    assert {"Max-Age=60", "Path=/", "HttpOnly"} <= set(attributes), set_cookie
    assert traffic.http is not None
    traffic.http.cookie_jar.clear()  # the cookie goes only where a test puts it
    cookie = {"cookie": name_value}
    following = await pods(traffic, "http://lb:8080/", 20, headers=cookie)
    assert following == {pod_of(first): 20}
    # A request carrying the cookie gets no new one.
    assert "set-cookie" not in (await traffic.get("http://lb:8080/", headers=cookie)).headers
    spread = {
        next(iter(await pods(traffic, "http://lb:8080/", 3, headers={"cookie": f"sticky=c{i}"})))
        for i in range(12)
    }
    assert len(spread) >= 2, spread


async def test_query_parameter_hash(traffic: Traffic) -> None:
    await apply_hashing(traffic, _hash_rule("{httpQueryParameterName: user}"))
    assert lb_policy(traffic, LB) == "RING_HASH"  # Istio's default consistent-hash algorithm
    chosen = set()
    for key in range(12):
        seen = await pods(traffic, f"http://lb:8080/?user=u{key}", 6)
        assert len(seen) == 1, (key, seen)
        chosen |= set(seen)
    assert len(chosen) >= 2, chosen


async def test_source_ip_hash(traffic: Traffic) -> None:
    await apply_hashing(traffic, _hash_rule("{useSourceIp: true}"))
    sources = {random_loopback_address() for _ in range(12)}
    chosen = set()
    for source in sources:
        # A new connection per request: only the client's address ties them together.
        seen = {pod_of(await get_from(traffic, source, "http://lb:8080/")) for _ in range(4)}
        assert len(seen) == 1, (source, seen)
        chosen |= seen
    assert len(chosen) >= 2, chosen
