"""Which security policies apply to one workload: pure scope resolution over a snapshot.

Istio's rules (``pilot/pkg/model/authentication.go``, ``authorization.go``,
``security/authn/policy_applier.go`` ``ComposePeerAuthentication``):

- PeerAuthentication: a policy without selector in the root namespace (``meshConfig.rootNamespace``)
  is mesh-wide, elsewhere namespace-wide; one with a selector is workload-level (ignored in the
  root namespace). At each level the oldest wins. Precedence workload > namespace > mesh, ``UNSET``
  inherits the parent, nothing at all is PERMISSIVE. ``portLevelMtls`` (keys: workload ports) is
  read from the workload-level policy only; ``UNSET`` there inherits the workload's mode.
- RequestAuthentication and AuthorizationPolicy: policies of the root namespace and of the
  workload's namespace whose selector is empty or a subset of the workload's labels (root-namespace
  selectors match in every namespace). Policies with ``targetRef(s)`` attach to Gateway-API
  gateways only and never to sidecars.
- Legacy (``authentication.istio.io``, ``rbac.istio.io``) policies, converted in the index, apply
  per concern only where no modern policy does, as in Istio 1.5: PeerAuthentication over alpha
  mTLS, RequestAuthentication over alpha origins (with their token-requiring DENY policies),
  AuthorizationPolicy over RBAC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.common import MatchLabelsSelector
from mainsail.config.istio.peer_authentication import PeerAuthentication, PeerMutualTls
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.registry.model import labels_match
from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security_index import PolicySet

MtlsMode = Literal["DISABLE", "PERMISSIVE", "STRICT"]
P = TypeVar("P", PeerAuthentication, RequestAuthentication, AuthorizationPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadMtls:
    """The inbound mTLS mode of a workload, and the overrides by workload (target) port."""

    mode: MtlsMode = "PERMISSIVE"
    port_modes: tuple[tuple[int, MtlsMode], ...] = ()  # sorted by port

    def mode_for(self, port: int) -> MtlsMode:
        return dict(self.port_modes).get(port, self.mode)


@dataclass(frozen=True, slots=True, kw_only=True, eq=True)
class WorkloadSecurity:
    """Everything the inbound security translators need for one workload, as one value.

    Equality compares the policies' contents; the hash uses their identities (kind, namespace,
    name) only, which equal values share, because pydantic models with maps do not hash.
    """

    mtls: WorkloadMtls = field(default_factory=WorkloadMtls)
    request_authentications: tuple[RequestAuthentication, ...] = ()
    authorization_policies: tuple[AuthorizationPolicy, ...] = ()

    def __hash__(self) -> int:
        return hash(
            (
                self.mtls,
                tuple(p.key for p in self.request_authentications),
                tuple(p.key for p in self.authorization_policies),
            )
        )


def _selector_labels(selector: MatchLabelsSelector | None) -> Mapping[str, str]:
    return selector.match_labels if selector is not None else {}


def _candidates(
    by_namespace: Mapping[str, tuple[P, ...]], namespace: str, root: str
) -> Iterable[P]:
    """Root namespace first, then the workload's (once if they are the same)."""
    yield from by_namespace.get(root, ())
    if namespace != root:
        yield from by_namespace.get(namespace, ())


def _selected(policies: Iterable[P], labels: Mapping[str, str]) -> tuple[P, ...]:
    out: list[P] = []
    for policy in policies:
        spec = policy.spec
        targeted = getattr(spec, "target_ref", None) is not None or bool(
            getattr(spec, "target_refs", ())
        )
        if targeted:
            continue  # attaches to Gateway-API gateways, never to a sidecar
        if labels_match(_selector_labels(spec.selector), labels):
            out.append(policy)
    return tuple(out)


def _known(mode: PeerMutualTls | None) -> MtlsMode | None:
    """The mode a policy sets, or None when it is absent or UNSET (inherit)."""
    if mode is None or mode.effective_mode == "UNSET":
        return None
    return mode.effective_mode


def _compose(policies: tuple[PeerAuthentication, ...], root: str) -> WorkloadMtls:
    """Istio's ``ComposePeerAuthentication`` over the policies selected for the workload
    (given oldest first, so the first at each level wins)."""
    mesh = namespace = workload = None
    for policy in policies:
        if not _selector_labels(policy.spec.selector):
            if policy.namespace == root:
                mesh = mesh or policy
            else:
                namespace = namespace or policy
        elif policy.namespace != root:
            workload = workload or policy
    mode: MtlsMode = "PERMISSIVE"
    for level in (mesh, namespace, workload):
        if level is not None:
            mode = _known(level.spec.mtls) or mode
    port_modes: dict[int, MtlsMode] = {}
    if workload is not None and workload.spec.port_level_mtls:
        for port, setting in workload.spec.port_level_mtls.items():
            if port.isdigit():
                port_modes[int(port)] = _known(setting) or mode
    return WorkloadMtls(mode=mode, port_modes=tuple(sorted(port_modes.items())))


def _peer_policies(
    policies: PolicySet, namespace: str, labels: Mapping[str, str], root: str
) -> tuple[PeerAuthentication, ...]:
    found = _selected(_candidates(policies.peer_authentications, namespace, root), labels)
    # Oldest first across the two namespaces, as Istio sorts them before composing.
    return tuple(sorted(found, key=_creation))


def _creation(policy: PeerAuthentication) -> tuple[float, str, str]:
    created = policy.metadata.creation_timestamp
    return (created.timestamp() if created else 0.0, policy.name, policy.namespace)


def workload_mtls(
    snapshot: MeshSnapshot, namespace: str, labels: Mapping[str, str]
) -> WorkloadMtls:
    """The inbound mTLS mode of the workload (namespace, labels), with per-port overrides."""
    root = snapshot.mesh.root_namespace
    index = snapshot.security
    found = _peer_policies(index.modern, namespace, labels, root)
    if not found:
        found = _peer_policies(index.legacy_authn, namespace, labels, root)
    return _compose(found, root)


def _level_mode(
    by_namespace: Mapping[str, tuple[PeerAuthentication, ...]], namespace: str
) -> tuple[bool, MtlsMode | None]:
    """(a namespace-level policy exists, the mode it sets) for the oldest such policy."""
    for policy in by_namespace.get(namespace, ()):
        if not _selector_labels(policy.spec.selector):
            return True, _known(policy.spec.mtls)
    return False, None


def namespace_mtls_mode(snapshot: MeshSnapshot, namespace: str) -> MtlsMode:
    """The namespace-or-mesh mode auto mTLS consults for a service of ``namespace``
    (``GetNamespaceMutualTLSMode``; workload policies are not consulted; nothing → PERMISSIVE)."""
    root = snapshot.mesh.root_namespace
    index = snapshot.security
    mode: MtlsMode = "PERMISSIVE"
    for level in (root, namespace):
        found, level_mode = _level_mode(index.modern.peer_authentications, level)
        if not found:
            found, level_mode = _level_mode(index.legacy_authn.peer_authentications, level)
        mode = level_mode or mode
    return mode


def request_authentications_for(
    snapshot: MeshSnapshot, namespace: str, labels: Mapping[str, str]
) -> tuple[RequestAuthentication, ...]:
    """The RequestAuthentications whose JWT rules the workload enforces (root namespace first)."""
    root = snapshot.mesh.root_namespace
    index = snapshot.security
    found = _selected(_candidates(index.modern.request_authentications, namespace, root), labels)
    if found:
        return found
    return _selected(
        _candidates(index.legacy_authn.request_authentications, namespace, root), labels
    )


def authorization_policies_for(
    snapshot: MeshSnapshot, namespace: str, labels: Mapping[str, str]
) -> tuple[AuthorizationPolicy, ...]:
    """The AuthorizationPolicies in force for the workload: root namespace (mesh-wide) first, then
    its namespace, each oldest first."""
    root = snapshot.mesh.root_namespace
    index = snapshot.security
    found = _selected(_candidates(index.modern.authorization_policies, namespace, root), labels)
    if not found:
        found = _selected(
            _candidates(index.legacy_rbac.authorization_policies, namespace, root), labels
        )
    modern_jwt = _selected(
        _candidates(index.modern.request_authentications, namespace, root), labels
    )
    if modern_jwt:
        return found
    # Alpha origins are in force: their DENY policies make the token mandatory.
    required = _selected(
        _candidates(index.legacy_authn.authorization_policies, namespace, root), labels
    )
    return found + required


def workload_security(
    snapshot: MeshSnapshot, namespace: str, labels: Mapping[str, str]
) -> WorkloadSecurity:
    """All of the above for one workload, as one hashable value for the translation cache."""
    return WorkloadSecurity(
        mtls=workload_mtls(snapshot, namespace, labels),
        request_authentications=request_authentications_for(snapshot, namespace, labels),
        authorization_policies=authorization_policies_for(snapshot, namespace, labels),
    )
