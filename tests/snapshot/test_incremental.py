"""An incremental snapshot (only VirtualServices/DestinationRules changed) equals a full build."""

from __future__ import annotations

import random

import pytest

from mainsail.config.base import Resource
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.snapshot.incremental import SnapshotBasis, snapshot_basis
from mainsail.snapshot.mesh_snapshot import build_snapshot

NAMESPACES = ("default", "shop", "istio-system")
SERVICES = ("reviews", "ratings", "details")


def _one(text: str) -> Resource:
    parsed = parse_documents(text)
    assert parsed.ok, parsed.errors
    (resource,) = parsed.resources
    return resource


def _service(name: str, namespace: str) -> Resource:
    return _one(f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 9080}}]
""")


def _pod(name: str, namespace: str, app: str, version: str, address: str) -> Resource:
    return _one(f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {app}, version: {version}}}
spec:
  containers: [{{name: app, ports: [{{containerPort: 9080}}]}}]
status: {{podIP: {address}}}
""")


def _virtual_service(rng: random.Random, name: str, namespace: str) -> Resource:
    host = rng.choice(SERVICES)
    created = f"2024-01-0{rng.randint(1, 9)}T00:00:00Z"
    weight = rng.randint(0, 100)
    delegate = ""
    if rng.random() < 0.2:
        # A delegate (no hosts) and its root: merged when the snapshot is built.
        return _one(f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: "{created}"}}
spec:
  http:
  - route: [{{destination: {{host: {host}, subset: v1}}}}]
""")
    if rng.random() < 0.3:
        delegate = f"""
  - match: [{{uri: {{prefix: /d}}}}]
    delegate: {{name: vs-{rng.randint(0, 5)}, namespace: {namespace}}}"""
    return _one(f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: "{created}"}}
spec:
  hosts: [{host}]
  http:{delegate}
  - route:
    - destination: {{host: {host}, subset: v1}}
      weight: {weight}
    - destination: {{host: {host}, subset: v2}}
      weight: {100 - weight}
""")


def _destination_rule(rng: random.Random, name: str, namespace: str) -> Resource:
    host = rng.choice((*SERVICES, "*.shop.svc.cluster.local", "ratings.shop.svc.cluster.local"))
    created = f"2024-01-0{rng.randint(1, 9)}T00:00:00Z"
    selector = "\n  workloadSelector: {matchLabels: {app: reviews}}" if rng.random() < 0.2 else ""
    return _one(f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {namespace}, creationTimestamp: "{created}"}}
spec:
  host: "{host}"{selector}
  trafficPolicy: {{loadBalancer: {{simple: {rng.choice(("RANDOM", "ROUND_ROBIN"))}}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
""")


def _registry() -> dict[tuple[str, str, str], Resource]:
    objects: dict[tuple[str, str, str], Resource] = {}
    address = 10
    for namespace in NAMESPACES:
        for name in SERVICES:
            objects["Service", namespace, name] = _service(name, namespace)
            for version in ("v1", "v2"):
                address += 1
                pod = _pod(f"{name}-{version}", namespace, name, version, f"10.0.0.{address}")
                objects["Pod", namespace, f"{name}-{version}"] = pod
    return objects


def _step(rng: random.Random, objects: dict[tuple[str, str, str], Resource]) -> None:
    """One store change: mostly routing kinds (added, edited, removed), sometimes a Pod."""
    roll = rng.random()
    namespace = rng.choice(NAMESPACES)
    if roll < 0.15:
        # A registry change: the next snapshot must be built whole.
        address = rng.randint(100, 200)
        name = f"extra-{address}"
        objects["Pod", namespace, name] = _pod(
            name, namespace, "ratings", "v2", f"10.0.1.{address}"
        )
        return
    kind = rng.choice(("VirtualService", "DestinationRule"))
    key = (kind, namespace, f"{'vs' if kind == 'VirtualService' else 'dr'}-{rng.randint(0, 5)}")
    if key in objects and rng.random() < 0.3:
        del objects[key]
    elif kind == "VirtualService":
        objects[key] = _virtual_service(rng, key[2], namespace)
    else:
        objects[key] = _destination_rule(rng, key[2], namespace)


@pytest.mark.parametrize("seed", range(8))
def test_random_change_sequences_equal_a_full_build(seed: int) -> None:
    rng = random.Random(seed)
    mesh = MeshConfig()
    objects = _registry()
    basis: SnapshotBasis | None = None
    incremental = 0
    for _ in range(40):
        _step(rng, objects)
        basis = snapshot_basis(objects.values(), mesh, basis)
        incremental += basis.incremental
        assert basis.snapshot == build_snapshot(objects.values(), mesh)
    assert incremental > 10  # the sequences did exercise the incremental path


def test_a_routing_change_keeps_the_registry_objects() -> None:
    rng = random.Random(4)  # draws a VirtualService with hosts (not a delegate)
    mesh = MeshConfig()
    objects = _registry()
    first = snapshot_basis(objects.values(), mesh)
    assert first.snapshot.endpoints  # the Pods are selected: there is a registry to keep
    objects["VirtualService", "shop", "vs-1"] = _virtual_service(rng, "vs-1", "shop")
    second = snapshot_basis(objects.values(), mesh, first)
    assert second.incremental
    assert second.snapshot.services is first.snapshot.services
    assert second.snapshot.endpoints is first.snapshot.endpoints
    assert len(second.snapshot.virtual_services) == 1
    assert second.snapshot == build_snapshot(objects.values(), mesh)


def test_a_registry_change_or_new_mesh_settings_rebuild_whole() -> None:
    mesh = MeshConfig()
    objects = _registry()
    first = snapshot_basis(objects.values(), mesh)
    objects["Pod", "shop", "extra"] = _pod("extra", "shop", "reviews", "v1", "10.0.2.1")
    second = snapshot_basis(objects.values(), mesh, first)
    assert not second.incremental
    assert second.snapshot.endpoints != first.snapshot.endpoints
    other_mesh = MeshConfig(root_namespace="mesh-root")
    third = snapshot_basis(objects.values(), other_mesh, second)
    assert not third.incremental
    assert third.snapshot == build_snapshot(objects.values(), other_mesh)
