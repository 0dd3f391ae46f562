"""The security kinds parse into frozen models with Istio's defaults and wire names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.istio.peer_authentication import PeerAuthentication
from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.legacy.authentication import MeshPolicy, Policy
from mainsail.config.legacy.rbac import ClusterRbacConfig, ServiceRoleBinding
from mainsail.config.parse import parse_documents


def _one(text: str) -> object:
    parsed = parse_documents(text)
    assert parsed.errors == (), parsed.errors
    (resource,) = parsed.resources
    return resource


def test_peer_authentication_defaults() -> None:
    pa = _one(
        "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: d}\n"
    )
    assert isinstance(pa, PeerAuthentication)
    assert pa.spec.mtls is None and pa.spec.port_level_mtls is None and pa.spec.selector is None
    pa = _one(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: d}\n"
        "spec: {mtls: {}, portLevelMtls: {'80': {mode: STRICT}}}"
    )
    assert isinstance(pa, PeerAuthentication)
    assert pa.spec.mtls is not None and pa.spec.mtls.effective_mode == "UNSET"
    assert pa.spec.port_level_mtls is not None
    assert pa.spec.port_level_mtls["80"].mode == "STRICT"
    with pytest.raises(ValidationError):
        pa.spec.mtls.mode = "STRICT"  # type: ignore[misc]  # frozen


def test_request_authentication_fields() -> None:
    ra = _one(
        """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: r}
spec:
  jwtRules:
  - issuer: a
    jwks_uri: https://k
    fromHeaders: [{name: x-jwt, prefix: "Bearer "}]
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    timeout: 1.5s
"""
    )
    assert isinstance(ra, RequestAuthentication)
    (rule,) = ra.spec.jwt_rules
    assert (rule.issuer, rule.jwks_uri, rule.timeout) == ("a", "https://k", timedelta(seconds=1.5))
    assert rule.from_headers[0].prefix == "Bearer "
    wire = ra.to_wire()["spec"]["jwtRules"][0]
    assert wire["jwksUri"] == "https://k" and "jwks_uri" not in wire
    assert wire["timeout"] == "1.500s"


def test_authorization_policy_defaults_and_dry_run() -> None:
    ap = _one(
        """
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: a, annotations: {istio.io/dry-run: "True"}}
spec:
  rules:
  - from: [{source: {principals: [x]}}]
    to: [{operation: {ports: ["80"]}}]
    when: [{key: source.ip, notValues: [1.2.3.4]}]
"""
    )
    assert isinstance(ap, AuthorizationPolicy)
    assert ap.spec.action is None and ap.spec.effective_action == "ALLOW"
    assert ap.dry_run
    rule = ap.spec.rules[0]
    assert rule.from_[0].source is not None and rule.from_[0].source.principals == ("x",)
    assert ap.to_wire()["spec"]["rules"][0]["from"] == [{"source": {"principals": ["x"]}}]
    empty = _one(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: e}\nspec: {}"
    )
    assert isinstance(empty, AuthorizationPolicy)
    assert empty.spec.rules == () and not empty.dry_run


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("kind: PeerAuthentication\nspec: {mtls: {mode: ON}}", "spec.mtls.mode"),
        ("kind: AuthorizationPolicy\nspec: {action: allow}", "spec.action"),
        (
            "kind: AuthorizationPolicy\nspec: {rules: [{to: [{operation: {ports: [80]}}]}]}",
            "spec.rules[0].to[0].operation.ports[0]",
        ),
        (
            "kind: RequestAuthentication\nspec: {jwtRules: [{issuer: x, forwardOriginalToken: 'yes'}]}",
            "spec.jwtRules[0].forwardOriginalToken",
        ),
        (
            "kind: RequestAuthentication\nspec: {jwtRules: [{issuer: x, timeout: soon}]}",
            "spec.jwtRules[0].timeout",
        ),
    ],
)
def test_structural_errors_have_paths(text: str, path: str) -> None:
    parsed = parse_documents(f"apiVersion: security.istio.io/v1\nmetadata: {{name: x}}\n{text}")
    assert [e.path for e in parsed.errors] == [path]


def test_api_versions() -> None:
    parsed = parse_documents(
        "apiVersion: security.istio.io/v1alpha3\nkind: PeerAuthentication\nmetadata: {name: x}\n"
    )
    assert [e.code.value for e in parsed.errors] == ["MS-UNKNOWN-API-VERSION"]


def test_legacy_policy_fields_and_spellings() -> None:
    policy = _one(
        """
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: p, namespace: foo}
spec:
  targets: [{name: svc, ports: [{number: 80}, {name: http}]}]
  peers: [{mtls: }]
  peerIsOptional: true
  origins:
  - jwt:
      issuer: i
      jwks_uri: https://k
      jwt_headers: [h]
      jwtParams: [p]
      trigger_rules: [{excluded_paths: [{exact: /a}], includedPaths: [{prefix: /b}]}]
  originIsOptional: false
  principalBinding: USE_ORIGIN
"""
    )
    assert isinstance(policy, Policy)
    spec = policy.spec
    assert spec.peers[0].mtls is not None and spec.peers[0].mtls.effective_mode == "STRICT"
    jwt = spec.origins[0].jwt
    assert jwt is not None
    assert (jwt.jwks_uri, jwt.jwt_headers, jwt.jwt_params) == ("https://k", ("h",), ("p",))
    assert jwt.trigger_rules[0].excluded_paths[0].exact == "/a"
    assert jwt.trigger_rules[0].included_paths[0].prefix == "/b"
    assert spec.targets[0].ports[1].name == "http"
    mesh = _one(
        "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\n"
    )
    assert isinstance(mesh, MeshPolicy) and mesh.metadata.namespace is None  # cluster-scoped


def test_legacy_oneofs_are_enforced() -> None:
    parsed = parse_documents(
        "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\n"
        "spec: {targets: [{name: s, ports: [{number: 80, name: http}]}]}"
    )
    assert [(e.code.value, e.path) for e in parsed.errors] == [
        ("MS-SCHEMA-ONE-OF", "spec.targets[0].ports[0]")
    ]


def test_legacy_rbac() -> None:
    binding = _one(
        """
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRoleBinding
metadata: {name: b}
spec:
  subjects: [{user: u, properties: {source.namespace: ns}}, {names: [a], notIps: [1.1.1.1]}]
  roleRef: {kind: ServiceRole, name: r}
  mode: PERMISSIVE
"""
    )
    assert isinstance(binding, ServiceRoleBinding)
    assert binding.spec.role_ref is not None and binding.spec.role_ref.name == "r"
    assert binding.spec.subjects[1].not_ips == ("1.1.1.1",)
    config = _one(
        "apiVersion: rbac.istio.io/v1alpha1\nkind: ClusterRbacConfig\nmetadata: {name: default}\nspec: {}"
    )
    assert isinstance(config, ClusterRbacConfig) and config.spec.effective_mode == "OFF"
