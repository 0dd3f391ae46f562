"""Istio's validation rules for PeerAuthentication, RequestAuthentication, AuthorizationPolicy."""

from __future__ import annotations

import textwrap

import pytest

from mainsail.config.errors import ConfigError
from mainsail.config.parse import parse_documents
from mainsail.config.schema import by_kind
from mainsail.config.validation import validate_all


def errors(
    kind: str, spec: str, *, name: str = "t", annotations: str = "{}"
) -> tuple[ConfigError, ...]:
    schema = by_kind(kind)
    assert schema is not None
    text = (
        f"apiVersion: {schema.preferred_api_version}\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: shop, annotations: {annotations}}}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec).strip(), '  ')}\n"
    )
    parsed = parse_documents(text, "t.yaml")
    assert parsed.errors == (), parsed.errors
    return validate_all(parsed)


def findings(kind: str, spec: str, *, warnings: bool = False, **kw: str) -> list[tuple[str, str]]:
    return [(e.code.value, e.path) for e in errors(kind, spec, **kw) if warnings or e.is_error]


SEL = "selector: {matchLabels: {app: reviews}}\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("portLevelMtls: {'8080': {mode: STRICT}}", ("MS-PA-PORT-LEVEL", "spec.portLevelMtls")),
        (
            "selector: {matchLabels: {}}\nportLevelMtls: {'8080': {mode: STRICT}}",
            ("MS-PA-PORT-LEVEL", "spec.portLevelMtls"),
        ),
        (SEL + "portLevelMtls: {'0': {mode: STRICT}}", ("MS-PORT", "spec.portLevelMtls[0]")),
        (SEL + "portLevelMtls: {'70000': {}}", ("MS-PORT", "spec.portLevelMtls[70000]")),
        (SEL + "portLevelMtls: {'http': {}}", ("MS-PORT", "spec.portLevelMtls[http]")),
        (
            "selector: {matchLabels: {app: 're*'}}",
            ("MS-SELECTOR", "spec.selector.matchLabels[app]"),
        ),
    ],
)
def test_peer_authentication_errors(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("PeerAuthentication", spec)


def test_peer_authentication_valid_and_empty_selector_warns() -> None:
    assert (
        findings(
            "PeerAuthentication",
            SEL + "mtls: {mode: STRICT}\nportLevelMtls: {'9080': {mode: DISABLE}}",
        )
        == []
    )
    assert findings("PeerAuthentication", "selector: {}", warnings=True) == [
        ("MS-SELECTOR", "spec.selector.matchLabels")
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("jwtRules: [{audiences: [a]}]", ("MS-RA-JWT", "spec.jwtRules[0].issuer")),
        (
            "jwtRules: [{issuer: x, jwksUri: 'ftp://keys'}]",
            ("MS-RA-JWT", "spec.jwtRules[0].jwksUri"),
        ),
        ("jwtRules: [{issuer: x, jwks: 'not json'}]", ("MS-RA-JWT", "spec.jwtRules[0].jwks")),
        (
            "jwtRules: [{issuer: x, jwks: '{\"keys\": [{}]}'}]",
            ("MS-RA-JWT", "spec.jwtRules[0].jwks"),
        ),
        ("jwtRules: [{issuer: x, timeout: 0.5ms}]", ("MS-DURATION", "spec.jwtRules[0].timeout")),
        (
            SEL + "targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]",
            ("MS-TARGET-REF", "spec"),
        ),
        (
            "targetRef: {kind: Deployment, group: apps, name: d}",
            ("MS-TARGET-REF", "spec.targetRef"),
        ),
        (
            "targetRef: {kind: Service, name: d, namespace: other}",
            ("MS-TARGET-REF", "spec.targetRef.namespace"),
        ),
    ],
)
def test_request_authentication_errors(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("RequestAuthentication", spec)


def test_request_authentication_jwks_exclusive_is_structural() -> None:
    text = (
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: t}\n"
        "spec: {jwtRules: [{issuer: x, jwks: '{}', jwksUri: 'https://k'}]}\n"
    )
    parsed = parse_documents(text)
    assert [(e.code.value, e.path) for e in parsed.errors] == [
        ("MS-SCHEMA-ONE-OF", "spec.jwtRules[0]")
    ]


def test_request_authentication_valid() -> None:
    assert (
        findings(
            "RequestAuthentication",
            SEL
            + 'jwtRules: [{jwksUri: \'https://k/jwks.json\'}, {issuer: y, jwks: \'{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}\', '
            "outputClaimToHeaders: [{header: x-sub, claim: sub}], timeout: 2s}]",
            warnings=True,
        )
        == []
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("action: DENY", ("MS-AP-ACTION", "spec.rules")),
        ("action: DENY\nrules: []", ("MS-AP-ACTION", "spec.rules")),
        ("action: CUSTOM", ("MS-AP-ACTION", "spec.rules")),
        ("action: CUSTOM\nrules: [{}]", ("MS-AP-ACTION", "spec.provider.name")),
        ("action: CUSTOM\nprovider: {}\nrules: [{}]", ("MS-AP-ACTION", "spec.provider.name")),
        ("provider: {name: ext}\nrules: [{}]", ("MS-AP-ACTION", "spec.provider")),
        (
            "action: CUSTOM\nprovider: {name: e}\nrules: [{from: [{source: {principals: [a]}}]}]",
            ("MS-AP-CUSTOM", "spec.rules[0].from[0].source.principals"),
        ),
        (
            "action: CUSTOM\nprovider: {name: e}\nrules: [{when: [{key: 'request.auth.claims[iss]', values: [a]}]}]",
            ("MS-AP-CUSTOM", "spec.rules[0].when[0].key"),
        ),
        ("rules: [{from: [{}]}]", ("MS-AP-RULE", "spec.rules[0].from[0].source")),
        ("rules: [{from: [{source: {}}]}]", ("MS-AP-RULE", "spec.rules[0].from[0].source")),
        ("rules: [{to: [{operation: {}}]}]", ("MS-AP-RULE", "spec.rules[0].to[0].operation")),
        ("rules: [{to: [{}]}]", ("MS-AP-RULE", "spec.rules[0].to[0].operation")),
        (
            "rules: [{from: [{source: {principals: [a], serviceAccounts: [b]}}]}]",
            ("MS-AP-RULE", "spec.rules[0].from[0].source"),
        ),
        (
            "rules: [{from: [{source: {ipBlocks: ['10.0.0.0/33']}}]}]",
            ("MS-IP-BLOCK", "spec.rules[0].from[0].source.ipBlocks[0]"),
        ),
        (
            "rules: [{from: [{source: {notRemoteIpBlocks: ['1.2.3']}}]}]",
            ("MS-IP-BLOCK", "spec.rules[0].from[0].source.notRemoteIpBlocks[0]"),
        ),
        (
            "rules: [{from: [{source: {principals: ['']}}]}]",
            ("MS-PRINCIPAL", "spec.rules[0].from[0].source.principals[0]"),
        ),
        (
            "rules: [{from: [{source: {serviceAccounts: ['a/b/c']}}]}]",
            ("MS-PRINCIPAL", "spec.rules[0].from[0].source.serviceAccounts[0]"),
        ),
        (
            "rules: [{from: [{source: {serviceAccounts: ['ns/*']}}]}]",
            ("MS-PRINCIPAL", "spec.rules[0].from[0].source.serviceAccounts[0]"),
        ),
        (
            "rules: [{from: [{source: {trustDomains: ['a/b']}}]}]",
            ("MS-PRINCIPAL", "spec.rules[0].from[0].source.trustDomains[0]"),
        ),
        (
            "rules: [{to: [{operation: {ports: ['http']}}]}]",
            ("MS-PORT", "spec.rules[0].to[0].operation.ports[0]"),
        ),
        (
            "rules: [{to: [{operation: {notPorts: ['70000']}}]}]",
            ("MS-PORT", "spec.rules[0].to[0].operation.notPorts[0]"),
        ),
        (
            "rules: [{to: [{operation: {methods: ['']}}]}]",
            ("MS-AP-RULE", "spec.rules[0].to[0].operation.methods[0]"),
        ),
        (
            "rules: [{to: [{operation: {paths: ['/a/{**}/b/{*}']}}]}]",
            ("MS-AP-RULE", "spec.rules[0].to[0].operation.paths[0]"),
        ),
        (
            "rules: [{when: [{key: request.method, values: [GET]}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].key"),
        ),
        (
            "rules: [{when: [{key: 'request.headers[]', values: [a]}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].key"),
        ),
        (
            "rules: [{when: [{key: destination.namespace, values: [a]}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].key"),
        ),
        (
            "rules: [{when: [{key: 'destination.labels[app]', values: [a]}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].key"),
        ),
        ("rules: [{when: [{key: source.ip}]}]", ("MS-AP-CONDITION", "spec.rules[0].when[0]")),
        (
            "rules: [{when: [{key: source.ip, values: [nope]}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].values"),
        ),
        (
            "rules: [{when: [{key: destination.port, notValues: ['x']}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].notValues"),
        ),
        (
            "rules: [{when: [{key: source.namespace, values: ['']}]}]",
            ("MS-AP-CONDITION", "spec.rules[0].when[0].values"),
        ),
    ],
)
def test_authorization_policy_errors(spec: str, expected: tuple[str, str]) -> None:
    assert expected in findings("AuthorizationPolicy", spec)


@pytest.mark.parametrize(
    "spec",
    [
        "{}",  # ALLOW nothing
        "rules: [{}]",  # ALLOW everything
        "action: DENY\nrules: [{to: [{operation: {ports: ['8080'], paths: ['/admin/*']}}]}]",
        "action: AUDIT\nrules: [{}]",
        "action: CUSTOM\nprovider: {name: ext}\nrules: [{to: [{operation: {paths: ['/x']}}]}]",
        "rules: [{from: [{source: {serviceAccounts: [sleep, 'default/curl']}}]}]",
        "rules: [{to: [{operation: {paths: ['/api/{*}/data/{**}']}}]}]",
        "rules: [{when: [{key: 'request.auth.claims[groups]', values: [admin]}, "
        "{key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]']}, "
        "{key: remote.ip, values: ['10.0.0.0/8', '::1']}, {key: connection.sni, values: [x]}]}]",
    ],
)
def test_authorization_policy_valid(spec: str) -> None:
    assert findings("AuthorizationPolicy", spec) == []


def test_wildcard_in_the_middle_of_a_principal_warns() -> None:
    spec = "rules: [{from: [{source: {principals: ['cluster.local/*/sa/x'], namespaces: ['*-prod']}}]}]"
    assert findings("AuthorizationPolicy", spec) == []
    assert findings("AuthorizationPolicy", spec, warnings=True) == [
        ("MS-PRINCIPAL", "spec.rules[0].from[0].source.principals[0]")
    ]


def test_deny_with_only_http_attributes_warns_about_tcp() -> None:
    spec = "action: DENY\nrules: [{to: [{operation: {methods: [POST]}}]}]"
    assert findings("AuthorizationPolicy", spec, warnings=True) == [("MS-AP-RULE", "spec.rules[0]")]


def test_dry_run_annotation() -> None:
    deny = "action: DENY\nrules: [{}]"
    assert findings("AuthorizationPolicy", deny, annotations="{istio.io/dry-run: 'true'}") == []
    assert findings("AuthorizationPolicy", deny, annotations="{istio.io/dry-run: 'yes'}") == [
        ("MS-AP-ACTION", "metadata.annotations[istio.io/dry-run]")
    ]
    custom = "action: CUSTOM\nprovider: {name: e}\nrules: [{}]"
    assert findings("AuthorizationPolicy", custom, annotations="{istio.io/dry-run: 'true'}") == [
        ("MS-AP-ACTION", "metadata.annotations[istio.io/dry-run]")
    ]
    assert findings("PeerAuthentication", "{}", annotations="{istio.io/dry-run: 'true'}") == [
        ("MS-AP-ACTION", "metadata.annotations[istio.io/dry-run]")
    ]


def test_errors_name_the_document_and_rule() -> None:
    (error,) = errors("AuthorizationPolicy", "action: DENY")
    text = str(error)
    assert "t.yaml" in text and "AuthorizationPolicy shop/t" in text and "MS-AP-ACTION" in text
