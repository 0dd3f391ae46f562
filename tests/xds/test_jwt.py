"""RequestAuthentication → jwt_authn (reference §4.7) and claim-based route matching."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_components_pb2 as rc
from google.protobuf import json_format

from mainsail.config.istio.request_authentication import RequestAuthentication
from mainsail.config.parse import parse_documents
from mainsail.xds.jwt import (
    PUBLIC_ONLY_JWKS,
    jwks_key,
    jwt_authn_config,
    jwt_authn_filter,
    routing_claim,
)


def _policies(rules: str) -> list[RequestAuthentication]:
    text = (
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
        f"metadata: {{name: jwt, namespace: foo}}\nspec:\n  jwtRules:\n{rules}\n"
    )
    parsed = parse_documents(text, source="test.yaml")
    assert parsed.ok, [str(e) for e in parsed.errors]
    return [r for r in parsed.resources if isinstance(r, RequestAuthentication)]


def _config(rules: str, fetched: dict[str, str] | None = None, **kw: bool) -> dict[str, Any]:
    config = jwt_authn_config(
        _policies(rules), fetched or {}, clear_route_cache=kw.get("clear", False)
    )
    assert config is not None
    return json_format.MessageToDict(config)


def test_one_provider_allows_missing_token() -> None:
    config = _config(
        """  - issuer: https://issuer.example
    audiences: [app]
    jwksUri: https://issuer.example/jwks
    forwardOriginalToken: true
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    fromHeaders: [{name: x-token, prefix: "Bearer "}]
    fromParams: [tok]""",
        {"https://issuer.example/jwks": '{"keys": []}'},
    )
    assert config["bypassCorsPreflight"] is True
    assert config["rules"] == [
        {
            "match": {"prefix": "/"},
            "requires": {
                "requiresAny": {
                    "requirements": [{"providerName": "origins-0"}, {"allowMissing": {}}]
                }
            },
        }
    ]
    provider = config["providers"]["origins-0"]
    assert provider == {
        "issuer": "https://issuer.example",
        "audiences": ["app"],
        "forward": True,
        "forwardPayloadHeader": "x-jwt-payload",
        "claimToHeaders": [{"headerName": "x-sub", "claimName": "sub"}],
        "fromHeaders": [{"name": "x-token", "valuePrefix": "Bearer "}],
        "fromParams": ["tok"],
        "payloadInMetadata": "payload",
        "normalizePayloadInMetadata": {"spaceDelimitedClaims": ["permission", "scope"]},
        "localJwks": {"inlineString": '{"keys": []}'},
    }


def test_two_providers_any_valid_or_each_valid_or_missing() -> None:
    config = _config(
        """  - issuer: z-issuer
    jwks: '{"keys": [1]}'
  - issuer: a-issuer
    jwks: '{"keys": [2]}'
    spaceDelimitedClaims: [roles, scope]"""
    )
    # Sorted by issuer, as istiod does: a-issuer is origins-0.
    assert config["providers"]["origins-0"]["localJwks"]["inlineString"] == '{"keys": [2]}'
    assert config["providers"]["origins-0"]["normalizePayloadInMetadata"] == {
        "spaceDelimitedClaims": ["permission", "roles", "scope"]
    }
    optional = [
        {"requiresAny": {"requirements": [{"providerName": p}, {"allowMissing": {}}]}}
        for p in ("origins-0", "origins-1")
    ]
    assert config["rules"][0]["requires"] == {
        "requiresAny": {
            "requirements": [
                {"providerName": "origins-0"},
                {"providerName": "origins-1"},
                {"requiresAll": {"requirements": optional}},
            ]
        }
    }


def test_unfetched_keys_fail_closed_and_gateways_clear_route_cache() -> None:
    config = _config(
        "  - {issuer: https://down.example, jwksUri: https://down.example/k}", clear=True
    )
    provider = config["providers"]["origins-0"]
    assert provider["localJwks"]["inlineString"] == PUBLIC_ONLY_JWKS
    assert provider["clearRouteCache"] is True


def test_jwks_key_and_no_rules() -> None:
    (with_uri,) = _policies("  - {issuer: i, jwksUri: https://k}")[0].spec.jwt_rules
    (discovery,) = _policies("  - {issuer: https://i.example/}")[0].spec.jwt_rules
    (inline,) = _policies("  - {issuer: i, jwks: '{}'}")[0].spec.jwt_rules
    assert jwks_key(with_uri) == "https://k"
    assert jwks_key(discovery) == "https://i.example/.well-known/openid-configuration"
    assert jwks_key(inline) is None
    assert jwt_authn_filter([], {}, clear_route_cache=False) is None


def test_routing_claims() -> None:
    assert routing_claim("@request.auth.claims.group") == ["group"]
    assert routing_claim("@request.auth.claims.a.b") == ["a", "b"]
    assert routing_claim("@request.auth.claims[a][b]") == ["a", "b"]
    assert routing_claim("@request.auth.claims") is None
    assert routing_claim("@request.auth.claims.") is None
    assert routing_claim("x-user") is None


def test_virtual_service_claim_match_is_dynamic_metadata() -> None:
    from .test_routes import _routes, _vhost, _vs

    text = _vs(
        "reviews",
        """  hosts: [reviews]
  http:
  - match: [{headers: {"@request.auth.claims.group": {exact: admin}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews}}]""",
    )
    route = _vhost(_routes(text)["http_proxy"], "reviews.default.svc.cluster.local:9080").routes[0]
    assert isinstance(route, rc.Route)
    assert not route.match.headers
    (claim,) = route.match.dynamic_metadata
    assert json_format.MessageToDict(claim) == {
        "filter": "envoy.filters.http.jwt_authn",
        "path": [{"key": "payload"}, {"key": "group"}],
        "value": {
            "orMatch": {
                "valueMatchers": [
                    {"listMatch": {"oneOf": {"stringMatch": {"exact": "admin"}}}},
                    {"stringMatch": {"exact": "admin"}},
                ]
            }
        },
    }
