"""Legacy policies apply through their conversion, per concern only where no modern policy does
(Istio 1.5, the one release serving both)."""

from __future__ import annotations

from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.security import (
    authorization_policies_for,
    namespace_mtls_mode,
    request_authentications_for,
    workload_mtls,
)

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
---
"""
HTTPBIN = {"app": "httpbin"}
ALPHA_STRICT = """
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: default, namespace: foo}
spec:
  peers: [{mtls: {}}]
---
"""
ALPHA_JWT_PORT = """
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: jwt, namespace: foo}
spec:
  targets: [{name: httpbin, ports: [{number: 8000}]}]
  origins: [{jwt: {issuer: x, jwksUri: "https://x/keys"}}]
---
"""
RBAC = """
apiVersion: rbac.istio.io/v1alpha1
kind: ClusterRbacConfig
metadata: {name: default}
spec: {mode: "ON"}
---
"""


def _snapshot(*docs: str) -> MeshSnapshot:
    parsed = parse_documents(SERVICE + "".join(docs))
    assert parsed.ok, parsed.errors
    return build_snapshot(parsed.resources)


def _modern(kind: str, name: str, spec: str) -> str:
    return (
        f"apiVersion: security.istio.io/v1\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: foo}}\nspec: {spec}\n---\n"
    )


def test_alpha_policy_applies_when_alone() -> None:
    snap = _snapshot(ALPHA_STRICT)
    assert workload_mtls(snap, "foo", HTTPBIN).mode == "STRICT"
    assert namespace_mtls_mode(snap, "foo") == "STRICT"
    assert namespace_mtls_mode(snap, "bar") == "PERMISSIVE"


def test_alpha_port_targets_become_port_level_modes() -> None:
    snap = _snapshot(ALPHA_STRICT, ALPHA_JWT_PORT)
    mtls = workload_mtls(snap, "foo", HTTPBIN)
    # The targeted policy (no peers) converts to PERMISSIVE on target port 80; the namespace
    # policy keeps STRICT elsewhere.
    assert (mtls.mode, mtls.port_modes) == ("STRICT", ((80, "PERMISSIVE"),))
    assert [r.name for r in request_authentications_for(snap, "foo", HTTPBIN)] == ["jwt-httpbin"]
    (deny,) = authorization_policies_for(snap, "foo", HTTPBIN)
    assert deny.spec.action == "DENY"
    assert request_authentications_for(snap, "foo", {"app": "other"}) == ()


def test_modern_peer_authentication_wins_over_alpha_mtls() -> None:
    snap = _snapshot(ALPHA_STRICT, _modern("PeerAuthentication", "pa", "{mtls: {mode: DISABLE}}"))
    assert workload_mtls(snap, "foo", HTTPBIN).mode == "DISABLE"
    assert namespace_mtls_mode(snap, "foo") == "DISABLE"


def test_modern_request_authentication_wins_with_its_deny_policies() -> None:
    ra = _modern("RequestAuthentication", "ra", "{jwtRules: [{issuer: y}]}")
    snap = _snapshot(ALPHA_JWT_PORT, ra)
    assert [r.name for r in request_authentications_for(snap, "foo", HTTPBIN)] == ["ra"]
    # The alpha origin's token requirement goes with the alpha origin.
    assert authorization_policies_for(snap, "foo", HTTPBIN) == ()


def test_rbac_applies_only_when_turned_on_and_no_authorization_policy_does() -> None:
    role = """
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRole
metadata: {name: r, namespace: foo}
spec: {rules: [{services: [httpbin], methods: [GET]}]}
---
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRoleBinding
metadata: {name: b, namespace: foo}
spec: {subjects: [{user: "*"}], roleRef: {kind: ServiceRole, name: r}}
---
"""
    assert authorization_policies_for(_snapshot(role), "foo", HTTPBIN) == ()
    names = [p.name for p in authorization_policies_for(_snapshot(RBAC, role), "foo", HTTPBIN)]
    assert names == ["generated-global-deny-all", "generated-r-rule0-svc0-target0"]
    ap = _modern("AuthorizationPolicy", "allow-all", "{rules: [{}]}")
    names = [p.name for p in authorization_policies_for(_snapshot(RBAC, role, ap), "foo", HTTPBIN)]
    assert names == ["allow-all"]


def test_conversion_notes_are_kept_on_the_snapshot() -> None:
    bad = """
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: p, namespace: foo}
spec: {targets: [{name: missing}], peers: [{mtls: {}}]}
---
"""
    snap = _snapshot(bad)
    assert [n.level for n in snap.security.legacy_notes] == ["error"]


def test_on_with_inclusion_enforces_roles_only_in_the_included_scope() -> None:
    role = """
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRole
metadata: {name: r, namespace: foo}
spec: {rules: [{services: ["*"], methods: [GET]}]}
---
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRoleBinding
metadata: {name: b, namespace: foo}
spec: {subjects: [{user: "*"}], roleRef: {kind: ServiceRole, name: r}}
---
"""

    def config(inclusion: str) -> str:
        return RBAC.replace('{mode: "ON"}', f"{{mode: ON_WITH_INCLUSION, inclusion: {inclusion}}}")

    elsewhere = _snapshot(config("{namespaces: [bar]}"), role)
    assert authorization_policies_for(elsewhere, "foo", HTTPBIN) == ()
    by_namespace = _snapshot(config("{namespaces: [foo]}"), role)
    assert [p.name for p in authorization_policies_for(by_namespace, "foo", HTTPBIN)] == [
        "generated-namespace-deny-all",
        "generated-r-rule0-svc0-target0",
    ]
    by_service = _snapshot(config("{services: [httpbin.foo.svc.cluster.local]}"), role)
    assert [p.name for p in authorization_policies_for(by_service, "foo", HTTPBIN)] == [
        "generated-r-rule0-svc0-target0",  # same (no) creation time: by name
        "generated-service-httpbin-deny-all",
    ]
