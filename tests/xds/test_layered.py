"""LayeredResources reads as one mapping; changed_names equals comparing flat dicts."""

from __future__ import annotations

import random

from mainsail.testing import envoy_config as ec
from mainsail.xds.layered import LayeredResources, changed_names
from mainsail.xds.resources import XdsResource


def _pool() -> list[XdsResource]:
    return [ec.eds_cluster(f"c{i}", connect_timeout_ms=t) for i in range(8) for t in (1000, 2000)]


def _flat_changes(old: dict[str, XdsResource], new: dict[str, XdsResource]) -> set[str]:
    return {
        n
        for n in old.keys() | new.keys()
        if getattr(old.get(n), "version", None) != getattr(new.get(n), "version", None)
    }


def _random_layer(rng: random.Random, pool: list[XdsResource]) -> dict[str, XdsResource]:
    return {r.name: r for r in rng.sample(pool, rng.randint(0, 8))}


def test_reads_as_one_mapping_with_the_shared_layer_winning() -> None:
    a1, a2, b = (
        ec.eds_cluster("a"),
        ec.eds_cluster("a", connect_timeout_ms=2000),
        ec.eds_cluster("b"),
    )
    layered = LayeredResources({"a": a1, "b": b}, {"a": a2})
    assert dict(layered) == {"a": a2, "b": b} and len(layered) == 2
    assert layered["a"] is a2 and layered.get("b") is b and layered.get("x") is None
    assert "b" in layered and "x" not in layered


def test_changed_names_equals_the_flat_comparison() -> None:
    rng = random.Random(7)
    pool = _pool()
    shared = [_random_layer(rng, pool) for _ in range(4)]
    for _ in range(300):
        old = LayeredResources(_random_layer(rng, pool), rng.choice(shared))
        new = LayeredResources(_random_layer(rng, pool), rng.choice(shared))
        want = _flat_changes(dict(old), dict(new))
        assert changed_names(old, new) == want
        assert changed_names(dict(old), dict(new)) == want


def test_an_unchanged_shared_layer_is_not_walked() -> None:
    shared = {r.name: r for r in _pool()}

    class Untouchable(dict[str, XdsResource]):
        def items(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the shared layer was walked")

    layer = Untouchable(shared)
    own = ec.eds_cluster("inbound")
    old = LayeredResources({}, layer)
    new = LayeredResources({own.name: own}, layer)
    assert changed_names(old, new) == {"inbound"}
