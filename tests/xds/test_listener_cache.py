"""Listeners through the translation cache (``xds.listener_inputs``): a proxy's listeners are
reused while nothing they are built from changed, and rebuilt when any of it did.

One cache sees a sequence of snapshots, each the previous one with one object added or edited
(unchanged objects keep their instances, as the store keeps them). At every step each proxy's
config through the cache equals a translation without it; then each step says, per proxy,
whether its listeners must change (``changed``), must be the very same objects (``reused``), or
may be rebuilt but equal (``equal``: its key reads the changed kind but not what changed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import pytest

from mainsail import naming
from mainsail.config.base import Resource
from mainsail.config.mesh import MeshConfig
from mainsail.snapshot.mesh_snapshot import build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.generate import Translator, generate
from mainsail.xds.resources import XdsResource
from mainsail.xds.translation_cache import TranslationCache
from tests.testing.bookinfo_mesh import BookInfo, _parsed, _platform, sample

Expect = Literal["changed", "reused", "equal"]
NETWORK = "10.41.0"

# A TCP service and a client in their own namespace; the default namespace's Sidecar keeps it
# out of sight of BookInfo's proxies (which then never read DestinationRules for listeners).
TCP_NAMESPACE = f"""
apiVersion: v1
kind: Service
metadata: {{name: tcp-echo, namespace: tcp}}
spec:
  selector: {{app: tcp-echo}}
  ports: [{{name: tcp, port: 9000}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: tcp-echo-0, namespace: tcp, labels: {{app: tcp-echo, version: v1}}}}
spec: {{containers: [{{name: app, ports: [{{containerPort: 9000}}]}}]}}
status: {{podIP: {NETWORK}.200}}
---
apiVersion: v1
kind: Pod
metadata: {{name: tcp-client-0, namespace: tcp, labels: {{app: tcp-client}}}}
spec: {{containers: [{{name: app}}]}}
status: {{podIP: {NETWORK}.201}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: default, namespace: default}}
spec:
  egress: [{{hosts: ["./*"]}}]
"""

REVIEWS_50 = sample("bookinfo/networking/virtual-service-reviews-50-v3.yaml")
STEPS: list[tuple[str, str, tuple[Expect, Expect, Expect]]] = [
    # (what changes, YAML applied on top of the previous step, (productpage, gateway, tcp-client))
    (
        "a VirtualService's HTTP weights",
        REVIEWS_50.replace("weight: 50\n", "weight: 80\n", 1).replace(
            "weight: 50\n", "weight: 20\n", 1
        ),
        ("reused", "reused", "reused"),
    ),
    (
        "a new HTTP-only VirtualService",
        sample("bookinfo/networking/virtual-service-ratings-test-abort.yaml"),
        ("reused", "reused", "reused"),
    ),
    (
        "an HTTP DestinationRule",
        sample("bookinfo/networking/destination-rule-all.yaml").replace(
            "host: reviews\n",
            "host: reviews\n  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n",
            1,
        ),
        ("reused", "equal", "equal"),
    ),
    (
        "an AuthorizationPolicy selecting productpage",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: productpage, namespace: default}\n"
        "spec:\n  selector: {matchLabels: {app: productpage}}\n"
        "  rules: [{to: [{operation: {methods: [GET]}}]}]\n",
        ("changed", "reused", "reused"),
    ),
    (
        "a PeerAuthentication of the default namespace",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
        "metadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: STRICT}\n",
        ("changed", "reused", "reused"),
    ),
    (
        "a Telemetry of the tcp namespace",
        "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
        "metadata: {name: default, namespace: tcp}\n"
        "spec:\n  accessLogging: [{providers: [{name: envoy}]}]\n",
        ("reused", "reused", "changed"),
    ),
    (
        "a RequestAuthentication selecting productpage",
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
        "metadata: {name: productpage, namespace: default}\n"
        "spec:\n  selector: {matchLabels: {app: productpage}}\n"
        "  jwtRules: [{issuer: issuer-1, jwks: '{\"keys\": []}'}]\n",
        ("changed", "reused", "reused"),
    ),
    (
        "a TCP VirtualService",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: tcp-echo, namespace: tcp}\n"
        "spec:\n  hosts: [tcp-echo]\n"
        "  tcp: [{match: [{port: 9000}], route: [{destination: {host: tcp-echo, subset: v1}}]}]\n",
        ("reused", "equal", "changed"),
    ),
    (
        "the port of a TCP VirtualService's match",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: tcp-echo, namespace: tcp}\n"
        "spec:\n  hosts: [tcp-echo]\n"
        "  tcp: [{match: [{port: 9001}], route: [{destination: {host: tcp-echo, subset: v1}}]}]\n",
        ("reused", "equal", "changed"),
    ),
    (
        "a DestinationRule's TCP idle timeout",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: tcp-echo, namespace: tcp}\n"
        "spec:\n  host: tcp-echo\n"
        "  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 30s}}}\n",
        ("reused", "equal", "changed"),
    ),
    (
        "the Gateway's port",
        sample("bookinfo/networking/bookinfo-gateway.yaml").replace(
            "number: 8080", "number: 8081", 1
        ),
        ("reused", "changed", "equal"),
    ),
    (
        "a mesh-wide AuthorizationPolicy (root namespace)",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        "metadata: {name: deny-delete, namespace: istio-system}\n"
        "spec:\n  action: DENY\n  rules: [{to: [{operation: {methods: [DELETE]}}]}]\n",
        # The client serves nothing: its listeners have no RBAC, but its key reads the policy.
        ("changed", "changed", "equal"),
    ),
]


def _node(
    mesh: BookInfo, pod: str, namespace: str, labels: tuple[tuple[str, str], ...]
) -> ProxyNode:
    productpage = mesh.productpage()
    ip = mesh.ip(pod)
    return dataclasses.replace(
        productpage,
        node_id=f"sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local",
        ip=ip,
        pod_name=pod,
        namespace=namespace,
        labels=labels,
        app_ports=(),
    )


def _versions(listeners: Mapping[str, XdsResource]) -> dict[str, str]:
    return {name: r.version for name, r in listeners.items()}


def _objects(current: dict[tuple[str, str, str], Resource], text: str) -> None:
    for resource in _parsed(text):
        current[resource.key] = resource


def _base() -> dict[tuple[str, str, str], Resource]:
    current: dict[tuple[str, str, str], Resource] = {}
    for resource in _platform(NETWORK):
        current[resource.key] = resource
    for text in (
        sample("bookinfo/networking/bookinfo-gateway.yaml"),
        sample("bookinfo/networking/destination-rule-all.yaml"),
        REVIEWS_50,
        TCP_NAMESPACE,
    ):
        _objects(current, text)
    return current


def test_listeners_follow_every_input_and_only_them() -> None:
    current = _base()
    settings = MeshConfig()  # one instance, as the control plane keeps it across snapshots
    mesh = BookInfo(build_snapshot(current.values(), settings), NETWORK)
    nodes = [
        mesh.productpage(),
        mesh.gateway(),
        _node(mesh, "tcp-client-0", "tcp", (("app", "tcp-client"),)),
    ]
    cache = TranslationCache()

    def step() -> list[Mapping[str, XdsResource]]:
        snapshot = build_snapshot(current.values(), settings)
        translator = Translator(snapshot, cache)
        found = []
        for node in nodes:
            config = translator.generate(node)
            uncached = generate(snapshot, node)
            for type_url in naming.PUSH_ORDER:
                assert _versions(config.of_type(type_url)) == _versions(
                    uncached.of_type(type_url)
                ), (node.pod_name, type_url)
            found.append(config.of_type(naming.LISTENER_TYPE))
        return found

    before = step()
    assert step() == before and all(a is b for a, b in zip(step(), before, strict=True))
    tcp_listener = naming.build_listener_name(nodes[2].ip, 9000)
    assert tcp_listener in before[2]  # the client has a TCP listener reading DestinationRules
    for what, text, expected in STEPS:
        _objects(current, text)
        after = step()
        for node, old, new, expect in zip(nodes, before, after, expected, strict=True):
            where = f"{what}: {node.pod_name}"
            if expect == "reused":
                assert new is old, where
            elif expect == "equal":
                assert _versions(new) == _versions(old), where
            else:
                assert _versions(new) != _versions(old), where
        before = after


@pytest.mark.parametrize(
    "mesh_change",
    [
        {"accessLogFile": "/dev/stdout"},
        {"defaultProviders": {"metrics": ["none"]}},
    ],
)
def test_a_new_mesh_config_rebuilds_listeners(mesh_change: dict[str, object]) -> None:
    current = _base()
    cache = TranslationCache()
    mesh = BookInfo(build_snapshot(current.values()), NETWORK)
    node = mesh.productpage()
    old = Translator(build_snapshot(current.values(), MeshConfig()), cache).generate(node)
    changed = MeshConfig.model_validate(mesh_change)
    snapshot = build_snapshot(current.values(), changed)
    new = Translator(snapshot, cache).generate(node)
    assert _versions(new.of_type(naming.LISTENER_TYPE)) == _versions(
        generate(snapshot, node).of_type(naming.LISTENER_TYPE)
    )
    assert _versions(new.of_type(naming.LISTENER_TYPE)) != _versions(
        old.of_type(naming.LISTENER_TYPE)
    )


def test_endpoints_of_the_proxy_rebuild_its_listeners() -> None:
    """A new Service selecting productpage adds an inbound port: its listeners change, others'
    are reused."""
    current = _base()
    settings = MeshConfig()
    mesh = BookInfo(build_snapshot(current.values(), settings), NETWORK)
    nodes = [mesh.productpage(), _node(mesh, "tcp-client-0", "tcp", (("app", "tcp-client"),))]
    cache = TranslationCache()
    translator = Translator(build_snapshot(current.values(), settings), cache)
    old = [translator.generate(n).of_type(naming.LISTENER_TYPE) for n in nodes]
    _objects(
        current,
        "apiVersion: v1\nkind: Service\nmetadata: {name: productpage-admin, namespace: default}\n"
        "spec:\n  selector: {app: productpage}\n  ports: [{name: http, port: 9090, targetPort: 9080}]\n",
    )
    translator = Translator(build_snapshot(current.values(), settings), cache)
    new = [translator.generate(n).of_type(naming.LISTENER_TYPE) for n in nodes]
    assert _versions(new[0]) != _versions(old[0])
    # The new service is in every view (services token): rebuilt, but equal for the others.
    assert _versions(new[1]) == _versions(old[1])
