"""Istio's migration rules for the legacy security APIs, one rule at a time."""

from __future__ import annotations

import textwrap
from typing import Any

from mainsail.config.legacy.convert import LegacyConversion, convert_legacy
from mainsail.config.parse import parse_documents

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports:
  - {name: http, port: 8000, targetPort: 80}
  - {name: grpc, port: 9000, targetPort: grpc-port}
---
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: foo}
spec:
  selector: {app: helloworld}
  ports: [{name: http, port: 5000}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: foo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
"""


def _convert(text: str, root: str = "istio-system") -> LegacyConversion:
    parsed = parse_documents(SERVICES + textwrap.dedent(text))
    assert parsed.errors == (), parsed.errors
    return convert_legacy(parsed.resources, root)


def _specs(resources: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    for r in resources:
        wire = r.to_wire()
        out.append((r.kind, r.namespace, r.name, wire.get("spec", {})))
    return out


def _policy(spec: str, name: str = "p", kind: str = "Policy") -> str:
    return (
        f"apiVersion: authentication.istio.io/v1alpha1\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: foo}}\nspec:\n{textwrap.indent(textwrap.dedent(spec), '  ')}"
    )


def test_targets_become_selectors_and_target_ports() -> None:
    result = _convert(
        _policy(
            """
            targets:
            - name: httpbin
              ports: [{number: 8000}, {name: grpc}]
            - name: helloworld
            peers: [{mtls: {}}]
            """
        )
    )
    assert _specs(result.peer_authentications) == [
        (
            "PeerAuthentication", "foo", "p-httpbin",
            # 8000 -> targetPort 80; grpc's targetPort is a name: the service port stays.
            {"selector": {"matchLabels": {"app": "httpbin"}},
             "portLevelMtls": {"80": {"mode": "STRICT"}, "9000": {"mode": "STRICT"}}},
        ),
        ("PeerAuthentication", "foo", "p-helloworld",
         {"selector": {"matchLabels": {"app": "helloworld"}}, "mtls": {"mode": "STRICT"}}),
    ]  # fmt: skip
    assert result.notes == ()


def test_mtls_modes() -> None:
    def mode(spec: str) -> Any:
        (pa,) = _convert(_policy(spec, name="default")).peer_authentications
        return pa.to_wire()["spec"]["mtls"]["mode"]

    assert mode("peers: [{mtls: {mode: STRICT}}]") == "STRICT"
    assert mode("peers: [{mtls: }]") == "STRICT"  # the docs' bare `mtls:`
    assert mode("peers: [{mtls: {mode: PERMISSIVE}}]") == "PERMISSIVE"
    assert mode("peers: [{mtls: {allowTls: true}}]") == "PERMISSIVE"
    assert mode("origins: [{jwt: {issuer: x}}]") == "PERMISSIVE"  # no peers: never DISABLE


def test_mesh_policy_goes_to_the_root_namespace() -> None:
    result = _convert(
        _policy("peers: [{mtls: {}}]", name="default", kind="MeshPolicy"), root="mesh"
    )
    assert _specs(result.peer_authentications) == [
        ("PeerAuthentication", "mesh", "default", {"mtls": {"mode": "STRICT"}})
    ]


def test_origins_become_request_authentication_and_a_deny_policy() -> None:
    result = _convert(
        _policy(
            """
            targets: [{name: httpbin, ports: [{number: 8000}]}]
            origins:
            - jwt:
                issuer: testing@secure.istio.io
                jwksUri: https://example.com/jwks.json
                jwtHeaders: [x-jwt]
                jwtParams: [token]
                triggerRules:
                - excludedPaths: [{exact: /health}, {prefix: /status/}]
                - includedPaths: [{suffix: .admin}]
            """
        )
    )
    (ra,) = result.request_authentications
    assert ra.to_wire()["spec"]["jwtRules"] == [
        {"issuer": "testing@secure.istio.io", "jwksUri": "https://example.com/jwks.json",
         "fromHeaders": [{"name": "x-jwt"}], "fromParams": ["token"], "forwardOriginalToken": True}
    ]  # fmt: skip
    (deny,) = result.jwt_authorization_policies
    spec = deny.to_wire()["spec"]
    assert spec["action"] == "DENY"
    need = {"from": [{"source": {"notRequestPrincipals": ["*"]}}]}
    assert spec["rules"] == [
        {**need, "to": [{"operation": {"notPaths": ["/health", "/status/*"], "ports": ["80"]}}]},
        {**need, "to": [{"operation": {"paths": ["*.admin"], "ports": ["80"]}}]},
    ]
    assert result.notes == ()


def test_optional_origin_needs_no_deny_and_regex_is_reported() -> None:
    result = _convert(
        _policy(
            """
            originIsOptional: true
            origins: [{jwt: {issuer: x, triggerRules: [{includedPaths: [{regex: "/a.*"}]}]}}]
            """,
            name="default",
        )
    )
    assert result.jwt_authorization_policies == ()
    assert [n.level for n in result.notes] == ["error"]
    assert "spec.origins[0].jwt.triggerRules[0].includedPaths[0]" in result.notes[0].message


def test_unknown_service_is_an_error_note() -> None:
    result = _convert(_policy("targets: [{name: nope}]\npeers: [{mtls: {}}]"))
    assert result.peer_authentications == ()
    assert [(n.level, n.source) for n in result.notes] == [("error", "Policy foo/p")]
    assert "could not find service foo.nope" in result.notes[0].message


def _rbac(mode: str, extra: str = "") -> str:
    return (
        "apiVersion: rbac.istio.io/v1alpha1\nkind: ClusterRbacConfig\nmetadata: {name: default}\n"
        f"spec: {{mode: {mode}{extra}}}\n---\n"
    )


def test_cluster_rbac_config_modes() -> None:
    def names(mode: str, extra: str = "") -> list[tuple[str, str, str, dict[str, Any]]]:
        return _specs(_convert(_rbac(mode, extra)).rbac_authorization_policies)

    assert names("'OFF'") == [
        ("AuthorizationPolicy", "istio-system", "generated-global-allow-all", {"rules": [{}]})
    ]
    assert names("'ON'") == [
        ("AuthorizationPolicy", "istio-system", "generated-global-deny-all", {})
    ]
    assert names("ON_WITH_INCLUSION", ", inclusion: {namespaces: [foo], services: [reviews.foo.svc.cluster.local]}") == [
        ("AuthorizationPolicy", "foo", "generated-service-reviews-deny-all",
         {"selector": {"matchLabels": {"app": "reviews"}}}),
        ("AuthorizationPolicy", "foo", "generated-namespace-deny-all", {}),
    ]  # fmt: skip
    assert names("ON_WITH_EXCLUSION", ", exclusion: {namespaces: [bar], services: [reviews.foo]}") == [
        ("AuthorizationPolicy", "foo", "generated-service-reviews-allow-all",
         {"selector": {"matchLabels": {"app": "reviews"}}, "rules": [{}]}),
        ("AuthorizationPolicy", "istio-system", "generated-global-deny-all", {}),
        ("AuthorizationPolicy", "bar", "generated-namespace-allow-all", {"rules": [{}]}),
    ]  # fmt: skip


ROLE = """
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRole
metadata: {name: viewer, namespace: foo}
spec:
  rules:
  - services: ["*world", "reviews.foo.svc.cluster.local"]
    methods: ["GET", "*"]
    paths: ["*", "/api/*"]
    notHosts: [evil.com]
    constraints:
    - {key: destination.port, values: ["9080"]}
    - {key: "destination.labels[version]", values: [v1, v2]}
    - {key: "request.headers[x-id]", values: ["*", abc]}
  - services: ["*"]
    methods: [POST]
---
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRoleBinding
metadata: {name: viewers, namespace: foo}
spec:
  roleRef: {kind: ServiceRole, name: viewer}
  subjects:
  - user: cluster.local/ns/foo/sa/sleep
    group: admins
  - properties:
      source.namespace: bar
      source.ip: 10.0.0.0/8
      request.auth.principal: issuer/sub
      source.principal: "*"
      request.auth.claims[email]: a@b.c
  - names: [alice]
    notNames: [bob]
    namespaces: [ns1]
    ips: [1.2.3.4]
    groups: [g1]
    notGroups: [g2]
---
"""


def test_service_role_and_binding_become_allow_policies() -> None:
    result = _convert(_rbac("'ON'") + ROLE)
    policies = _specs(result.rbac_authorization_policies)
    assert [(ns, name) for _, ns, name, _ in policies] == [
        ("istio-system", "generated-global-deny-all"),
        # *world matches helloworld; x 2 versions from destination.labels[version]
        ("foo", "generated-viewer-rule0-svc0-target0"),
        ("foo", "generated-viewer-rule0-svc0-target1"),
        ("foo", "generated-viewer-rule0-svc1-target0"),
        ("foo", "generated-viewer-rule0-svc1-target1"),
        ("foo", "generated-viewer-rule1-svc0-target0"),  # "*": the whole namespace
    ]
    first = policies[1][3]
    assert first["selector"] == {"matchLabels": {"app": "helloworld", "version": "v1"}}
    operation = {
        "paths": ["/api/*"],
        "methods": ["GET"],
        "notHosts": ["evil.com"],
        "ports": ["9080"],
    }
    when_header = {"key": "request.headers[x-id]", "values": ["abc"]}
    assert first["rules"] == [
        {"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/sleep"]}}],
         "to": [{"operation": operation}],
         "when": [{"key": "request.auth.claims[group]", "values": ["admins"]}, when_header]},
        {"from": [{"source": {"ipBlocks": ["10.0.0.0/8"], "requestPrincipals": ["issuer/sub"],
                              "principals": ["*"], "namespaces": ["bar"]}}],
         "to": [{"operation": operation}],
         "when": [{"key": "request.auth.claims[email]", "values": ["a@b.c"]}, when_header]},
        {"from": [{"source": {"principals": ["alice"], "notPrincipals": ["bob"], "namespaces": ["ns1"],
                              "ipBlocks": ["1.2.3.4"]}}],
         "to": [{"operation": operation}],
         "when": [{"key": "request.auth.claims[groups]", "values": ["g1"], "notValues": ["g2"]},
                  when_header]},
    ]  # fmt: skip
    assert "selector" not in policies[5][3]
    assert result.rbac_enabled


def test_unsupported_constraints_are_errors() -> None:
    role = ROLE.replace("destination.port", "destination.ip")
    result = _convert(_rbac("'ON'") + role)
    assert [n.level for n in result.notes] == ["error"]
    assert "destination.ip is no longer supported" in result.notes[0].message
    assert [p.name for p in result.rbac_authorization_policies] == ["generated-global-deny-all"]


def test_without_a_rbac_config_roles_were_not_enforced() -> None:
    result = _convert(ROLE)
    assert not result.rbac_enabled
    assert result.rbac_authorization_policies != ()  # still converted, as istioctl's flag
    assert any("no ClusterRbacConfig" in n.message for n in result.notes)
