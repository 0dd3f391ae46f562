"""RequestAuthentication → ``envoy.filters.http.jwt_authn`` (istiod's ``policy_applier.go``
``convertToEnvoyJwtConfig``).

Every ``jwtRules`` entry of the policies selecting a workload (sorted by issuer) is a provider
``origins-<i>``; one requirement rule on prefix ``/`` accepts a request with no token or with a
token valid for some provider, and rejects (401) one with an invalid token. Requiring a token is
AuthorizationPolicy's job (``requestPrincipals``). The validated payload is written to dynamic
metadata ``payload`` for RBAC and route matching.

JWKS: inline ``jwks`` as is; ``jwksUri`` (or OpenID discovery from the issuer) is fetched by the
control plane (``runtime.jwks``), istiod's default, and inlined from ``MeshSnapshot.jwks``; what
could not be fetched becomes a key set no token can match (istiod's fail-closed fallback).

Reads: RequestAuthentication (selected by the caller), MeshSnapshot.jwks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.jwt_authn.v3 import config_pb2 as jwt_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, empty_pb2

from mainsail.config.istio.request_authentication import JWTRule, RequestAuthentication
from mainsail.xds.authz_matchers import JWT_FILTER, JWT_PAYLOAD

# istiod's ``PublicOnlyJwks``: an RSA public key whose private half was discarded at birth, so
# no token validates against it (a failed JWKS fetch fails closed).
PUBLIC_ONLY_JWKS = """{
  "keys": [
    {
      "kty": "RSA",
      "e": "AQAB",
      "n": "0xObjM0UvS_oaazjpEYlAbwctEJ4L8pH3OuTb7qth7gUwqet-EzQB4dgFdvSdMgrLnSncQGRjpEYz3F3viIbH-3EN3TxSlPNviHxeOdyiBVfumN8dMxbLvVJUpfNOnvmMxJcl-8NNjAwcOjk4otSALaYgYYyOPyvKtgVdrQr-FoubWX4yrjxW-MJ2-7OBeepUUNOsVwGV23YX03sVkkyvY3otRflkBcY3_HKpBxJl9wk2GyOShN4_PNUF9-vwfnvOXMbCDX-w4PTef4geeb_GiT40YCKHTKMSPVanGRn5GExIWmki-mmqh94-mPTJyBR74ShspL3BxPZitDL574T1w"
    }
  ]
}"""
DEFAULT_SPACE_DELIMITED_CLAIMS = ("permission", "scope")
OPENID_DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


def jwks_key(rule: JWTRule) -> str | None:
    """What the control plane fetches for ``rule``: its ``jwksUri``, else the issuer's OpenID
    discovery document (which names the key set); None when the keys are inline."""
    if rule.jwks:
        return None
    if rule.jwks_uri:
        return rule.jwks_uri
    if rule.issuer:
        return rule.issuer.rstrip("/") + OPENID_DISCOVERY_SUFFIX
    return None


def provider_name(index: int) -> str:
    return f"origins-{index}"


def _space_delimited(claims: Sequence[str]) -> list[str]:
    if not claims:
        return list(DEFAULT_SPACE_DELIMITED_CLAIMS)
    return sorted({*claims, *DEFAULT_SPACE_DELIMITED_CLAIMS})


def _local_jwks(rule: JWTRule, fetched: Mapping[str, str]) -> str:
    if rule.jwks:
        return rule.jwks
    key = jwks_key(rule)
    return fetched.get(key, PUBLIC_ONLY_JWKS) if key is not None else PUBLIC_ONLY_JWKS


def _provider(
    rule: JWTRule, fetched: Mapping[str, str], clear_route_cache: bool
) -> jwt_pb2.JwtProvider:
    provider = jwt_pb2.JwtProvider(
        issuer=rule.issuer or "",
        audiences=list(rule.audiences),
        forward=bool(rule.forward_original_token),
        forward_payload_header=rule.output_payload_to_header or "",
        payload_in_metadata=JWT_PAYLOAD,
        normalize_payload_in_metadata=jwt_pb2.JwtProvider.NormalizePayload(
            space_delimited_claims=_space_delimited(rule.space_delimited_claims)
        ),
        clear_route_cache=clear_route_cache,
        claim_to_headers=[
            jwt_pb2.JwtClaimToHeader(header_name=c.header, claim_name=c.claim)
            for c in rule.output_claim_to_headers
        ],
        from_headers=[
            jwt_pb2.JwtHeader(name=h.name, value_prefix=h.prefix or "") for h in rule.from_headers
        ],
        from_params=list(rule.from_params),
        from_cookies=list(rule.from_cookies),
        local_jwks=base_pb2.DataSource(inline_string=_local_jwks(rule, fetched)),
    )
    return provider


def _by_name(name: str) -> jwt_pb2.JwtRequirement:
    return jwt_pb2.JwtRequirement(provider_name=name)


def jwt_rules_for(policies: Sequence[RequestAuthentication]) -> list[JWTRule]:
    """Every rule of the policies, by issuer (istiod sorts them so provider names are stable)."""
    rules = [rule for policy in policies for rule in policy.spec.jwt_rules]
    return sorted(rules, key=lambda r: r.issuer or "")


def jwt_authn_config(
    policies: Sequence[RequestAuthentication],
    fetched: Mapping[str, str],
    *,
    clear_route_cache: bool,
) -> jwt_pb2.JwtAuthentication | None:
    """The jwt_authn config for a workload's RequestAuthentications; None when they have no
    rules. ``clear_route_cache`` on gateways, so routes can match on claims."""
    rules = jwt_rules_for(policies)
    if not rules:
        return None
    config = jwt_pb2.JwtAuthentication(bypass_cors_preflight=True)
    each_optional = []
    any_provider = []
    for index, rule in enumerate(rules):
        name = provider_name(index)
        config.providers[name].CopyFrom(_provider(rule, fetched, clear_route_cache))
        each_optional.append(
            jwt_pb2.JwtRequirement(
                requires_any=jwt_pb2.JwtRequirementOrList(
                    requirements=[
                        _by_name(name),
                        jwt_pb2.JwtRequirement(allow_missing=empty_pb2.Empty()),
                    ]
                )
            )
        )
        any_provider.append(_by_name(name))
    if len(each_optional) == 1:
        requires = each_optional[0]
    else:
        # A valid token of one provider, or (each provider's token valid or absent) — so a
        # request with no token passes and one with a bad token fails.
        requires = jwt_pb2.JwtRequirement(
            requires_any=jwt_pb2.JwtRequirementOrList(
                requirements=[
                    *any_provider,
                    jwt_pb2.JwtRequirement(
                        requires_all=jwt_pb2.JwtRequirementAndList(requirements=each_optional)
                    ),
                ]
            )
        )
    config.rules.append(jwt_pb2.RequirementRule(match=rc.RouteMatch(prefix="/"), requires=requires))
    return config


def jwt_authn_filter(
    policies: Sequence[RequestAuthentication],
    fetched: Mapping[str, str],
    *,
    clear_route_cache: bool,
) -> hcm_pb2.HttpFilter | None:
    config = jwt_authn_config(policies, fetched, clear_route_cache=clear_route_cache)
    if config is None:
        return None
    packed = any_pb2.Any()
    packed.Pack(config, deterministic=True)  # providers are a map: stable bytes
    return hcm_pb2.HttpFilter(name=JWT_FILTER, typed_config=packed)


ROUTING_CLAIM_HEADER = "@request.auth.claims"


def routing_claim(header_name: str) -> list[str] | None:
    """The claim path of a VirtualService header match on a JWT claim (istio's
    ``jwt.ToRoutingClaim``): ``@request.auth.claims.a.b`` or ``@request.auth.claims[a][b]``
    → ``[a, b]``; None for an ordinary header."""
    if not header_name.lower().startswith(ROUTING_CLAIM_HEADER):
        return None
    name = header_name[len(ROUTING_CLAIM_HEADER) :]
    if name.startswith(".") and len(name) > 1:
        return name[1:].split(".")
    if name.startswith("[") and name.endswith("]") and len(name) > 2:
        return name[1:-1].split("][")
    return None
