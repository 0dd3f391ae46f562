"""AuthorizationPolicy → RBAC: the field mapping and the action semantics (reference §4.6).

Each test parses real policy YAML and reads the generated Envoy protos back as JSON, so a wrong
matcher kind, a lost ``spiffe://`` prefix or a rule that should have been dropped fails here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as tcp_rbac
from google.protobuf import json_format

from mainsail.config.istio.authorization_policy import AuthorizationPolicy
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import parse_documents
from mainsail.registry.model import MeshService
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.xds.authz import (
    http_custom_filters,
    http_rbac_filters,
    policy_key,
    tcp_rbac_filters,
)
from mainsail.xds.authz_matchers import cidr, nested_bracketed, wildcard


def _policies(text: str) -> list[AuthorizationPolicy]:
    parsed = parse_documents(text, source="test.yaml")
    assert parsed.ok, [str(e) for e in parsed.errors]
    return [r for r in parsed.resources if isinstance(r, AuthorizationPolicy)]


def _policy(spec: str, *, name: str = "p", namespace: str = "foo", annotations: str = "") -> str:
    meta = f"{{name: {name}, namespace: {namespace}{annotations}}}"
    return f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {meta}\nspec:\n{spec}\n"


def _http(text: str, snapshot: MeshSnapshot | None = None) -> list[dict[str, Any]]:
    found = []
    for f in http_rbac_filters(snapshot or build_snapshot([]), _policies(text)):
        config = http_rbac.RBAC()
        assert f.name == "envoy.filters.http.rbac"
        f.typed_config.Unpack(config)
        found.append(json_format.MessageToDict(config))
    return found


def _tcp(text: str) -> list[dict[str, Any]]:
    found = []
    for f in tcp_rbac_filters(build_snapshot([]), _policies(text)):
        config = tcp_rbac.RBAC()
        assert f.name == "envoy.filters.network.rbac"
        f.typed_config.Unpack(config)
        found.append(json_format.MessageToDict(config))
    return found


def _only_policy(filters: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(filters) == 1
    policies = filters[0]["rules"]["policies"]
    assert list(policies) == [policy_key("foo", "p", 0)]
    return dict(policies[policy_key("foo", "p", 0)])


def test_policy_key_is_istios() -> None:
    assert policy_key("foo", "httpbin", 2) == "ns[foo]-policy[httpbin]-rule[2]"
    assert policy_key("foo", "ext", 0, "my-authz") == (
        "istio-ext-authz-my-authz-ns[foo]-policy[ext]-rule[0]"
    )


def test_empty_spec_allow_matches_nothing_so_denies_all() -> None:
    policy = _only_policy(_http(_policy("  {}")))
    assert policy == {
        "permissions": [{"notRule": {"any": True}}],
        "principals": [{"notId": {"any": True}}],
    }


def test_one_empty_rule_allows_everything() -> None:
    policy = _only_policy(_http(_policy("  rules: [{}]")))
    assert policy == {
        "permissions": [{"andRules": {"rules": [{"any": True}]}}],
        "principals": [{"andIds": {"ids": [{"any": True}]}}],
    }


def test_actions_in_istios_order_and_no_filter_without_policies() -> None:
    text = (
        _policy("  action: ALLOW\n  rules: [{}]", name="a")
        + "---\n"
        + _policy("  action: DENY\n  rules: [{}]", name="d")
        + "---\n"
        + _policy("  action: AUDIT\n  rules: [{}]", name="l")
    )
    actions = [f["rules"].get("action", "ALLOW") for f in _http(text)]
    assert actions == ["LOG", "DENY", "ALLOW"]
    assert _http(_policy("  action: DENY\n  rules: [{}]"))[0]["rules"]["action"] == "DENY"
    assert _http("") == []


def test_source_fields() -> None:
    spec = """  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep", "*"]
        namespaces: ["dev*"]
        serviceAccounts: ["bar/sa1", "sa2"]
        ipBlocks: ["10.1.0.0/16"]
        remoteIpBlocks: ["1.2.3.4"]
        notPrincipals: ["*/sa/bad"]"""
    principal = _only_policy(_http(_policy(spec)))["principals"][0]["andIds"]["ids"]
    assert principal[0] == {
        "orIds": {
            "ids": [
                {
                    "authenticated": {
                        "principalName": {"exact": "spiffe://cluster.local/ns/default/sa/sleep"}
                    }
                },
                {"authenticated": {"principalName": {"safeRegex": {"regex": ".+"}}}},
            ]
        }
    }
    assert principal[1] == {
        "notId": {
            "orIds": {
                "ids": [
                    {
                        "authenticated": {
                            "principalName": {"safeRegex": {"regex": "spiffe://.*/sa/bad"}}
                        }
                    }
                ]
            }
        }
    }
    regexes = [
        ids["orIds"]["ids"][0]["authenticated"]["principalName"]["safeRegex"]["regex"]
        for ids in principal[2:4]
    ]
    assert regexes == [
        "spiffe://.+/ns/bar/(.+/|)sa/sa1(/.+)?",  # serviceAccounts, ns/sa
        ".*/ns/dev.*/.*",  # namespaces with a wildcard
    ]
    sa2 = principal[2]["orIds"]["ids"][1]["authenticated"]["principalName"]["safeRegex"]
    assert sa2 == {"regex": "spiffe://.+/ns/foo/(.+/|)sa/sa2(/.+)?"}  # the policy's namespace
    assert principal[4] == {
        "orIds": {"ids": [{"remoteIp": {"addressPrefix": "1.2.3.4", "prefixLen": 32}}]}
    }
    assert principal[5] == {
        "orIds": {"ids": [{"directRemoteIp": {"addressPrefix": "10.1.0.0", "prefixLen": 16}}]}
    }


def test_operation_fields() -> None:
    spec = """  rules:
  - to:
    - operation:
        hosts: ["*.example.com"]
        methods: ["GET", "HEAD"]
        paths: ["/info*", "/api/{*}/items"]
        ports: ["8080"]
        notPaths: ["/info/secret"]"""
    rules = _only_policy(_http(_policy(spec)))["permissions"][0]["andRules"]["rules"]
    assert rules[0] == {
        "orRules": {
            "rules": [
                {
                    "header": {
                        "name": ":authority",
                        "stringMatch": {"suffix": ".example.com", "ignoreCase": True},
                    }
                }
            ]
        }
    }
    methods = [r["header"] for r in rules[1]["orRules"]["rules"]]
    assert methods == [
        {"name": ":method", "stringMatch": {"exact": "GET"}},
        {"name": ":method", "stringMatch": {"exact": "HEAD"}},
    ]
    paths = rules[2]["orRules"]["rules"]
    assert paths[0] == {"urlPath": {"path": {"prefix": "/info"}}}
    assert paths[1]["uriTemplate"]["name"] == "uri-template"
    assert paths[1]["uriTemplate"]["typedConfig"]["pathTemplate"] == "/api/*/items"
    assert rules[3] == {
        "notRule": {"orRules": {"rules": [{"urlPath": {"path": {"exact": "/info/secret"}}}]}}
    }
    assert rules[4] == {"orRules": {"rules": [{"destinationPort": 8080}]}}


def test_request_principals_and_claims() -> None:
    spec = """  rules:
  - from:
    - source: {requestPrincipals: ["https://issuer/alice"]}
    when:
    - key: request.auth.claims[groups]
      values: ["admin"]
    - key: request.auth.claims[nested][role]
      values: ["x*"]"""
    ids = _only_policy(_http(_policy(spec)))["principals"][0]["andIds"]["ids"]
    iss_sub = ids[0]["andIds"]["ids"]
    assert [p["sourcedMetadata"]["metadataMatcher"] for p in iss_sub] == [
        {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": "iss"}],
            "value": {"stringMatch": {"exact": "https://issuer"}},
        },
        {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": "sub"}],
            "value": {"stringMatch": {"exact": "alice"}},
        },
    ]
    groups = ids[1]["sourcedMetadata"]["metadataMatcher"]
    assert groups["path"] == [{"key": "payload"}, {"key": "groups"}]
    # A claim may be a list or a single value: istiod matches either.
    assert groups["value"] == {
        "orMatch": {
            "valueMatchers": [
                {"listMatch": {"oneOf": {"stringMatch": {"exact": "admin"}}}},
                {"stringMatch": {"exact": "admin"}},
            ]
        }
    }
    assert ids[2]["sourcedMetadata"]["metadataMatcher"]["path"] == [
        {"key": "payload"},
        {"key": "nested"},
        {"key": "role"},
    ]


def test_http_only_fields_on_tcp_drop_allow_rules_but_only_deny_conditions() -> None:
    spec = """  action: {action}
  rules:
  - to: [{{operation: {{methods: ["GET"], ports: ["9000"]}}}}]
  - to: [{{operation: {{ports: ["9001"]}}}}]"""
    allow = _tcp(_policy(spec.format(action="ALLOW")))
    assert allow[0]["statPrefix"] == "tcp."
    # The rule with ``methods`` is gone entirely (narrower); the port-only rule stays.
    assert list(allow[0]["rules"]["policies"]) == [policy_key("foo", "p", 1)]
    deny = _tcp(_policy(spec.format(action="DENY")))
    policies = deny[0]["rules"]["policies"]
    # DENY keeps the rule without the HTTP condition (broader): port 9000 is denied for all.
    # (protobuf maps have no order)
    assert sorted(policies) == [policy_key("foo", "p", 0), policy_key("foo", "p", 1)]
    assert policies[policy_key("foo", "p", 0)]["permissions"][0]["andRules"]["rules"] == [
        {"orRules": {"rules": [{"destinationPort": 9000}]}}
    ]


def test_allow_with_only_http_rules_on_tcp_denies_all_tcp() -> None:
    filters = _tcp(_policy('  rules: [{to: [{operation: {paths: ["/x"]}}]}]'))
    assert filters == [
        {"rules": {}, "statPrefix": "tcp.", "shadowRulesStatPrefix": "istio_dry_run_allow_"}
    ]


def test_dry_run_goes_to_shadow_rules() -> None:
    dry = ', annotations: {"istio.io/dry-run": "true"}'
    filters = _http(_policy("  action: DENY\n  rules: [{}]", annotations=dry))
    assert len(filters) == 1
    assert "rules" not in filters[0]
    assert filters[0]["shadowRules"]["action"] == "DENY"
    assert filters[0]["shadowRulesStatPrefix"] == "istio_dry_run_deny_"


def test_trust_domain_aliases_expand_principals() -> None:
    mesh = MeshConfig(trust_domain="new-td", trust_domain_aliases=("old-td",))
    spec = '  rules: [{from: [{source: {principals: ["old-td/ns/foo/sa/bar"]}}]}]'
    policy = _only_policy(_http(_policy(spec), build_snapshot([], mesh)))
    ids = policy["principals"][0]["andIds"]["ids"][0]["orIds"]["ids"]
    assert [i["authenticated"]["principalName"]["exact"] for i in ids] == [
        "spiffe://new-td/ns/foo/sa/bar",
        "spiffe://old-td/ns/foo/sa/bar",
    ]


def _custom_snapshot(provider: dict[str, Any]) -> MeshSnapshot:
    mesh = MeshConfig.model_validate({"extensionProviders": [provider]})
    host = "authz.foo.svc.cluster.local"
    service = MeshService(hostname=host, name="authz", namespace="foo", ports=())
    return dataclasses.replace(build_snapshot([], mesh), services={host: service})


def test_custom_http_provider() -> None:
    snapshot = _custom_snapshot(
        {
            "name": "my-authz",
            "envoyExtAuthzHttp": {
                "service": "authz.foo.svc.cluster.local",
                "port": 8000,
                "headersToUpstreamOnAllow": ["x-user"],
                "includeRequestHeadersInCheck": ["x-ext-authz"],
            },
        }
    )
    text = _policy(
        '  action: CUSTOM\n  provider: {name: my-authz}\n  rules: [{to: [{operation: {paths: ["/headers"]}}]}]'
    )
    rbac, ext = http_custom_filters(snapshot, _policies(text))
    shadow = http_rbac.RBAC()
    rbac.typed_config.Unpack(shadow)
    assert not shadow.HasField("rules")
    assert list(shadow.shadow_rules.policies) == [policy_key("foo", "p", 0, "my-authz")]
    assert shadow.shadow_rules_stat_prefix == "istio_ext_authz_"
    assert ext.name == "envoy.filters.http.ext_authz"
    config = ext_authz_pb2.ExtAuthz()
    ext.typed_config.Unpack(config)
    assert config.http_service.server_uri.cluster == "outbound|8000||authz.foo.svc.cluster.local"
    assert config.http_service.server_uri.timeout.seconds == 600  # istiod's default
    assert config.filter_enabled_metadata.value.string_match.prefix == "istio-ext-authz-my-authz"
    assert [
        p.exact
        for p in config.http_service.authorization_response.allowed_upstream_headers.patterns
    ] == ["x-user"]
    assert [p.exact for p in config.allowed_headers.patterns] == ["x-ext-authz"]


def test_custom_with_unknown_provider_denies_what_it_covers() -> None:
    snapshot = _custom_snapshot(
        {"name": "other", "envoyExtAuthzGrpc": {"service": "nope", "port": 9000}}
    )
    text = _policy("  action: CUSTOM\n  provider: {name: my-authz}\n  rules: [{}]")
    (only,) = http_custom_filters(snapshot, _policies(text))
    config = http_rbac.RBAC()
    only.typed_config.Unpack(config)
    assert config.rules.action == rbac_pb2.RBAC.DENY
    assert list(config.rules.policies) == [
        policy_key("foo", "p", 0, "my-authz") + "-deny-due-to-bad-CUSTOM-action"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", {"safeRegex": {"regex": ".+"}}),
        ("abc*", {"prefix": "abc"}),
        ("*abc", {"suffix": "abc"}),
        ("abc", {"exact": "abc"}),
    ],
)
def test_wildcard_values(value: str, expected: dict[str, Any]) -> None:
    assert json_format.MessageToDict(wildcard(value)) == expected


def test_cidr_and_claim_names() -> None:
    assert json_format.MessageToDict(cidr("2001:db8::1")) == {
        "addressPrefix": "2001:db8::1",
        "prefixLen": 128,
    }
    assert nested_bracketed("[a][b]") == ["a", "b"]
    assert nested_bracketed("[a.b]") == ["a.b"]


def test_custom_grpc_provider_also_guards_tcp_and_http_provider_does_not() -> None:
    grpc = _custom_snapshot(
        {
            "name": "grpc-authz",
            "envoyExtAuthzGrpc": {
                "service": "foo/authz.foo.svc.cluster.local",
                "port": 9000,
                "timeout": "0.5s",
                "failOpen": True,
            },
        }
    )
    text = _policy("  action: CUSTOM\n  provider: {name: grpc-authz}\n  rules: [{}]")
    names = [f.name for f in tcp_rbac_filters(grpc, _policies(text))]
    assert names == ["envoy.filters.network.rbac", "envoy.filters.network.ext_authz"]
    (_, ext) = http_custom_filters(grpc, _policies(text))
    config = ext_authz_pb2.ExtAuthz()
    ext.typed_config.Unpack(config)
    assert config.grpc_service.envoy_grpc.cluster_name == (
        "outbound|9000||authz.foo.svc.cluster.local"
    )
    assert config.grpc_service.timeout.ToMilliseconds() == 500
    assert config.failure_mode_allow
    http = _custom_snapshot(
        {
            "name": "grpc-authz",
            "envoyExtAuthzHttp": {"service": "authz.foo.svc.cluster.local", "port": 80},
        }
    )
    assert tcp_rbac_filters(http, _policies(text)) == []


def test_filter_bytes_do_not_depend_on_policy_order() -> None:
    """Versions are content hashes: equal RBAC config must pack to equal bytes."""
    first = _policy("  rules: [{}]", name="a") + "---\n" + _policy("  rules: [{}]", name="b")
    second = _policy("  rules: [{}]", name="b") + "---\n" + _policy("  rules: [{}]", name="a")
    snapshot = build_snapshot([])
    (one,) = http_rbac_filters(snapshot, _policies(first))
    (two,) = http_rbac_filters(snapshot, _policies(second))
    assert one.typed_config.value == two.typed_config.value
