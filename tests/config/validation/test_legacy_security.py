"""Istio 1.5's validation of the legacy security kinds, and where Mainsail only warns."""

from __future__ import annotations

import textwrap

import pytest

from mainsail.config.parse import parse_documents
from mainsail.config.schema import by_kind
from mainsail.config.validation import validate_all


def findings(
    kind: str, spec: str, *, name: str = "default", warnings: bool = False
) -> list[tuple[str, str]]:
    schema = by_kind(kind)
    assert schema is not None
    text = (
        f"apiVersion: {schema.preferred_api_version}\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: shop}}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec).strip() or '{}', '  ')}\n"
    )
    parsed = parse_documents(text, "t.yaml")
    assert parsed.errors == (), parsed.errors
    return [(e.code.value, e.path) for e in validate_all(parsed) if warnings or e.is_error]


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ("targets: [{name: svc}]", "default", ("MS-AUTHN-POLICY", "spec.targets")),
        ("targets: [{name: Bad_Name}]", "p", ("MS-AUTHN-POLICY", "spec.targets[0].name")),
        (
            "targets: [{name: svc.other.svc.cluster.local}]",
            "p",
            ("MS-AUTHN-POLICY", "spec.targets[0].name"),
        ),
        (
            "targets: [{name: svc, ports: [{number: 0}]}]",
            "p",
            ("MS-PORT", "spec.targets[0].ports[0]"),
        ),
        (
            "targets: [{name: svc, ports: [{number: 70000}]}]",
            "p",
            ("MS-PORT", "spec.targets[0].ports[0].number"),
        ),
        (
            "targets: [{name: svc, ports: [{name: Bad_Port}]}]",
            "p",
            ("MS-PORT-NAME", "spec.targets[0].ports[0].name"),
        ),
        (
            "origins: [{jwt: {audiences: [a]}}]",
            "default",
            ("MS-RA-JWT", "spec.origins[0].jwt.issuer"),
        ),
        ("origins: [{}]", "default", ("MS-RA-JWT", "spec.origins[0].jwt")),
        (
            "origins: [{jwt: {issuer: x, jwksUri: 'file:///k'}}]",
            "default",
            ("MS-RA-JWT", "spec.origins[0].jwt.jwksUri"),
        ),
        (
            "origins: [{jwt: {issuer: x}}, {jwt: {issuer: x}}]",
            "default",
            ("MS-RA-JWT", "spec.origins[1].jwt.issuer"),
        ),
        (
            "origins: [{jwt: {issuer: x, jwtHeaders: ['']}}]",
            "default",
            ("MS-RA-JWT", "spec.origins[0].jwt.jwtHeaders[0]"),
        ),
    ],
)
def test_policy_errors(spec: str, name: str, expected: tuple[str, str]) -> None:
    assert expected in findings("Policy", spec, name=name)


def test_policy_deviations_are_warnings() -> None:
    assert findings("Policy", "peers: [{mtls: }]", name="not-default") == []
    assert findings("Policy", "peers: [{mtls: }]", name="not-default", warnings=True) == [
        ("MS-AUTHN-POLICY", "metadata.name")
    ]
    fqdn = "targets: [{name: svc.shop.svc.cluster.local}]"
    assert findings("Policy", fqdn, name="p", warnings=True) == [
        ("MS-AUTHN-POLICY", "spec.targets[0].name")
    ]
    assert findings("MeshPolicy", "{}", name="mesh", warnings=True) == [
        ("MS-AUTHN-POLICY", "metadata.name")
    ]
    assert findings("MeshPolicy", "targets: [{name: a}]") == [("MS-AUTHN-POLICY", "spec.targets")]


def test_fields_istio_ignored_are_warned_about() -> None:
    spec = "peers:\n- mtls:\n  mode: STRICT\ntarget: [{name: x}]"
    assert findings("Policy", spec) == []
    assert sorted(findings("Policy", spec, warnings=True)) == [
        ("MS-SCHEMA-UNKNOWN-FIELD", "spec.peers[0].mode"),
        ("MS-SCHEMA-UNKNOWN-FIELD", "spec.target"),
    ]


@pytest.mark.parametrize(
    ("kind", "spec", "name", "expected"),
    [
        ("ClusterRbacConfig", "mode: 'ON'", "mesh", ("MS-RBAC-CONFIG", "metadata.name")),
        (
            "ClusterRbacConfig",
            "mode: ON_WITH_INCLUSION",
            "default",
            ("MS-RBAC-CONFIG", "spec.inclusion"),
        ),
        ("RbacConfig", "mode: ON_WITH_EXCLUSION", "default", ("MS-RBAC-CONFIG", "spec.exclusion")),
        ("ServiceRole", "rules: []", "r", ("MS-RBAC-ROLE", "spec.rules")),
        (
            "ServiceRole",
            "rules: [{services: [a], methods: [GET], notMethods: [POST]}]",
            "r",
            ("MS-RBAC-ROLE", "spec.rules[0]"),
        ),
        (
            "ServiceRole",
            "rules: [{services: [a], ports: [70000]}]",
            "r",
            ("MS-PORT", "spec.rules[0].ports[0]"),
        ),
        (
            "ServiceRole",
            "rules: [{services: [a], constraints: [{key: k}]}]",
            "r",
            ("MS-RBAC-ROLE", "spec.rules[0].constraints[0].values"),
        ),
        (
            "ServiceRole",
            "rules: [{services: [a], ports: [80], constraints: [{key: destination.port, values: ['80']}]}]",
            "r",
            ("MS-RBAC-ROLE", "spec.rules[0].constraints[0]"),
        ),
        (
            "ServiceRoleBinding",
            "roleRef: {kind: ServiceRole, name: r}",
            "b",
            ("MS-RBAC-BINDING", "spec.subjects"),
        ),
        (
            "ServiceRoleBinding",
            "subjects: [{}]\nroleRef: {kind: ServiceRole, name: r}",
            "b",
            ("MS-RBAC-BINDING", "spec.subjects[0]"),
        ),
        (
            "ServiceRoleBinding",
            "subjects: [{user: u}]\nroleRef: {kind: Role, name: r}",
            "b",
            ("MS-RBAC-BINDING", "spec.roleRef.kind"),
        ),
        (
            "ServiceRoleBinding",
            "subjects: [{user: u}]\nroleRef: {kind: ServiceRole}",
            "b",
            ("MS-RBAC-BINDING", "spec.roleRef.name"),
        ),
        ("ServiceRoleBinding", "subjects: [{user: u}]", "b", ("MS-RBAC-BINDING", "spec")),
        (
            "ServiceRoleBinding",
            "subjects: [{names: ['*']}]\nroleRef: {kind: ServiceRole, name: r}",
            "b",
            ("MS-RBAC-BINDING", "spec.subjects[0]"),
        ),
        (
            "ServiceRoleBinding",
            "subjects: [{names: [a], properties: {source.principal: b}}]\nroleRef: {kind: ServiceRole, name: r}",
            "b",
            ("MS-RBAC-BINDING", "spec.subjects[0].properties[source.principal]"),
        ),
    ],
)
def test_rbac_errors(kind: str, spec: str, name: str, expected: tuple[str, str]) -> None:
    assert expected in findings(kind, spec, name=name)


def test_valid_rbac() -> None:
    assert (
        findings("ClusterRbacConfig", "mode: ON_WITH_INCLUSION\ninclusion: {namespaces: [a]}") == []
    )
    role = "rules: [{services: ['*'], methods: [GET], constraints: [{key: 'destination.labels[v]', values: [v1]}]}]"
    assert findings("ServiceRole", role, name="r") == []
    binding = "subjects: [{user: '*'}, {properties: {source.namespace: a}}]\nroleRef: {kind: ServiceRole, name: r}"
    assert findings("ServiceRoleBinding", binding, name="b") == []
    assert findings("RbacConfig", "mode: 'OFF'", warnings=True) == [("MS-RBAC-CONFIG", "kind")]
