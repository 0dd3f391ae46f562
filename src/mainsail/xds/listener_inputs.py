"""What a proxy's listeners are built from: their ``TranslationCache`` key.

A push after a VirtualService weight change used to rebuild every proxy's listeners (HCMs with
authorization, JWT and Istio's telemetry filters, inbound chains, TCP outbound listeners) though
none of that reads HTTP routes. The Translator reuses a proxy's packed listeners while this key
is equal, so it must hold everything listener generation (``xds.listeners``, ``xds.inbound``,
``xds.sidecar_ingress``, ``xds.tcp_outbound``/``tcp_routes``, ``xds.gateway_tls``, the
telemetry pass ``xds.telemetry*`` and ``xds.mixer``) may read. Three parts:

- the snapshot's (``snapshot_listener_inputs``): services, mesh settings, JWKS, Sidecars,
  Mixer rules and the legacy policy conversions, for every proxy;
- the proxy namespace's (``namespace_listener_inputs``): PeerAuthentications,
  RequestAuthentications, AuthorizationPolicies and Telemetries of the root namespace and the
  proxy's own, the only ones ``snapshot.security`` and ``snapshot.telemetry`` resolve for it;
- the routed part (``routed_listener_inputs``), only for a proxy whose listeners carry
  ``tcp_proxy`` routes (a gateway, or a sidecar that sees a TCP port): the VirtualServices with
  ``tcp`` or ``tls`` routes (``tcp_routes`` and ``gateway_tls`` read no others), the
  DestinationRules (``tcp_proxy`` idle timeouts) and, for gateways, the Gateways;

plus the proxy's own node, Sidecar, outbound policy, workload and inbound endpoints. So an
HTTP-only VirtualService edit (a weight, a match), an HTTP DestinationRule, or a policy in
another namespace reuses a proxy's listeners: the push this saves.

Objects are keyed by identity (``Same``: the store keeps an unchanged object's instance across
snapshots) or by value; parts rebuilt per snapshot (legacy policy conversions, Mixer rules) by
content. A listener builder that reads a new input must add it here:
``tests/xds/test_listener_cache.py`` changes each kind and checks which listeners follow.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from mainsail.config.base import Resource
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security_index import PolicySet
from mainsail.snapshot.view import ProxyView
from mainsail.xds.translation_cache import Same, TranslationCache


def snapshot_listener_inputs(
    snapshot: MeshSnapshot, cache: TranslationCache, services: Hashable
) -> int:
    """A token for what every proxy's listeners may read of the snapshot; ``services``: the
    caller's token of the snapshot's services."""
    security = snapshot.security
    return cache.token(
        (
            "listener inputs",
            services,
            Same(snapshot.mesh),
            # Converted anew for every snapshot: by content (empty unless legacy kinds exist).
            tuple(
                p.model_dump_json()
                for found in (security.legacy_authn, security.legacy_rbac)
                for p in _all_policies(found)
            ),
            tuple(sorted(snapshot.jwks.items())),
            tuple(Same(s) for s in snapshot.sidecars),
            repr(snapshot.mixer_rules) if snapshot.mixer_rules else "",
        )
    )


def namespace_listener_inputs(
    snapshot: MeshSnapshot, cache: TranslationCache, namespace: str
) -> int:
    """A token for the policies and Telemetries a proxy of ``namespace`` may be given."""
    root = snapshot.mesh.root_namespace
    scopes = (root, namespace)
    return cache.token(
        (
            "namespace listener inputs",
            namespace,
            tuple(Same(p) for p in _all_policies(snapshot.security.modern, scopes)),
            tuple(Same(t) for t in snapshot.telemetries if t.namespace in scopes),
        )
    )


def routed_listener_inputs(snapshot: MeshSnapshot, cache: TranslationCache, rules: Hashable) -> int:
    """A token for what ``tcp_proxy`` routes read; ``rules``: the caller's token of the
    DestinationRules."""
    return cache.token(
        (
            "routed listener inputs",
            rules,
            tuple(Same(vs) for vs in snapshot.virtual_services if vs.spec.tcp or vs.spec.tls),
            tuple(Same(g) for g in snapshot.gateways),
        )
    )


def proxy_listener_key(
    snapshot: MeshSnapshot,
    view: ProxyView,
    inputs: int,
    namespace_inputs: int,
    routed_inputs: int | None,
) -> Hashable:
    """The key of one proxy's listeners from the three tokens above (``routed_inputs``: None
    when its listeners carry no ``tcp_proxy`` route)."""
    node = view.node
    return (
        "listeners",
        inputs,
        namespace_inputs,
        routed_inputs,
        node,
        Same(view.sidecar),
        view.outbound_traffic_policy,
        view.workload,
        # Its inbound endpoints (gateways read the same through ``endpoints_at``).
        snapshot.endpoints_at(node.ip),
    )


def _all_policies(policies: PolicySet, scopes: Iterable[str] | None = None) -> tuple[Resource, ...]:
    kinds: tuple[Mapping[str, tuple[Resource, ...]], ...] = (
        policies.peer_authentications,
        policies.request_authentications,
        policies.authorization_policies,
    )
    return tuple(
        policy
        for by_namespace in kinds
        for namespace in (sorted(by_namespace) if scopes is None else dict.fromkeys(scopes))
        for policy in by_namespace.get(namespace, ())
    )
