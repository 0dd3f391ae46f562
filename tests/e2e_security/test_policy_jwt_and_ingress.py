"""End-user authentication (RequestAuthentication + JWT) and authorization at the ingress gateway
with real Envoys (istio.io tasks/security/authentication/authn-policy, authorization/authz-jwt,
authz-ingress, and claim-based routing). Tokens and the key set are made in the test
(PyJWT + cryptography); the control plane fetches the key set from a server on loopback.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from mainsail.testing.jwt_issuer import JwksServer, JwtIssuer
from mainsail.testing.loopback import random_loopback_address
from tests.e2e_security.authz_helpers import (
    DENIED_BODY,
    apply_policy,
    clean_proxies,
    gateway,
    get_direct,
    policy_key,
    settles,
)
from tests.e2e_security.helpers import SecuredMesh


@pytest.fixture
async def issuer() -> AsyncIterator[JwksServer]:
    server = await JwksServer(JwtIssuer(issuer="https://issuer.mainsail.test")).start()
    try:
        yield server
    finally:
        await server.stop()


def _request_authentication(issuer: JwksServer, selector: str, namespace: str = "default") -> str:
    return f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: {namespace}}}
spec:
  selector:
    matchLabels: {{{selector}}}
  jwtRules:
  - issuer: {issuer.issuer.issuer}
    jwksUri: {issuer.jwks_uri}
    audiences: [server]
"""


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _tampered(token: str) -> str:
    """The same header and signature over a payload that says something else."""
    header, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged = claims.replace(b'"alice"', b'"admin"')
    return ".".join([header, base64.urlsafe_b64encode(forged).rstrip(b"=").decode(), signature])


async def _direct_status(url: str, source: str) -> int:
    return (await get_direct(url, source=source)).status


async def _status(secured: SecuredMesh, headers: dict[str, str] | None = None) -> int:
    reply = await secured.traffic.get(secured.url(8080, "/headers"), headers=headers)
    return reply.status


async def test_jwt_validation_and_required_principal(
    secured: SecuredMesh, issuer: JwksServer
) -> None:
    async with clean_proxies(secured):
        minted = issuer.issuer
        # The key set is fetched by the control plane and inlined (its kid shows in the config).
        await apply_policy(
            secured, _request_authentication(issuer, "app: server"), secured.server, minted.kid
        )
        valid = minted.token("alice", audience="server", groups=["group1"])
        tampered = _tampered(valid)
        await settles(lambda: _status(secured, _bearer(tampered)), 401, "jwt_authn in force")
        assert await _status(secured, _bearer(valid)) == 200
        assert await _status(secured) == 200  # no token: allowed, without a principal
        stranger = JwtIssuer(issuer=minted.issuer, kid=minted.kid)  # same name, other key
        for bad in (
            _tampered(valid),
            minted.token("alice", audience="server", expires_in=-600),
            minted.token("alice", audience="server", issuer="https://other.test"),
            stranger.token("alice", audience="server"),
        ):
            assert await _status(secured, _bearer(bad)) == 401, bad
        # Envoy's jwt_authn (so Istio) answers a token for another audience with 403.
        wrong_audience = await secured.traffic.get(
            secured.url(8080, "/headers"),
            headers=_bearer(minted.token("alice", audience="someone-else")),
        )
        assert (wrong_audience.status, wrong_audience.body) == (
            403,
            "Audiences in Jwt are not allowed",
        )
        # Require a token (a request principal) from this issuer, with a group claim.
        require = f"""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: default}}
spec:
  selector:
    matchLabels: {{app: server}}
  rules:
  - from: [{{source: {{requestPrincipals: ["{minted.issuer}/*"]}}}}]
    when:
    - key: request.auth.claims[groups]
      values: ["group1"]
"""
        await apply_policy(secured, require, secured.server, policy_key("require-jwt"))
        await settles(lambda: _status(secured), 403, "the ALLOW in force")
        missing = await secured.traffic.get(secured.url(8080, "/headers"))
        assert (missing.status, missing.body) == (403, DENIED_BODY)
        assert await _status(secured, _bearer(valid)) == 200
        other_group = minted.token("alice", audience="server", groups=["group2"])
        assert await _status(secured, _bearer(other_group)) == 403
        assert await _status(secured, _bearer(_tampered(valid))) == 401


async def test_unreachable_jwks_rejects_every_token(secured: SecuredMesh) -> None:
    """istiod's fail-closed fallback: a key set that cannot be fetched validates nothing."""
    async with clean_proxies(secured):
        down = await JwksServer(JwtIssuer(issuer="https://down.mainsail.test"), fail=True).start()
        try:
            await apply_policy(
                secured, _request_authentication(down, "app: server"), secured.server, "origins-0"
            )
            token = down.issuer.token("alice", audience="server")
            await settles(lambda: _status(secured, _bearer(token)), 401, "jwt_authn in force")
            assert await _status(secured) == 200
        finally:
            await down.stop()


INGRESS_DENY_SOURCE = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: ingress-policy, namespace: istio-system}}
spec:
  selector:
    matchLabels: {{istio: ingressgateway}}
  action: DENY
  rules:
  - from: [{{source: {{remoteIpBlocks: ["{blocked}"]}}}}]
"""


async def test_ingress_gateway_source_ip(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        gw = gateway(secured)
        url = f"http://{gw.ip}:8080/headers"
        blocked, allowed = random_loopback_address(), random_loopback_address()
        assert (await get_direct(url, source=blocked)).status == 200
        await apply_policy(
            secured,
            INGRESS_DENY_SOURCE.format(blocked=blocked),
            gw,
            policy_key("ingress-policy", "istio-system"),
        )
        await settles(lambda: _direct_status(url, blocked), 403, "the gateway DENY in force")
        denied = await get_direct(url, source=blocked)
        assert (denied.status, denied.body) == (403, DENIED_BODY)
        assert (await get_direct(url, source=allowed)).status == 200


async def test_ingress_jwt_and_claim_based_routing(
    secured: SecuredMesh, issuer: JwksServer
) -> None:
    async with clean_proxies(secured):
        gw = gateway(secured)
        minted = issuer.issuer
        await apply_policy(
            secured,
            _request_authentication(issuer, "istio: ingressgateway", "istio-system"),
            gw,
            minted.kid,
        )
        url = f"http://{gw.ip}:8080/headers"

        async def version(headers: dict[str, str] | None = None) -> str:
            reply = await get_direct(url, headers=headers)
            assert reply.status == 200, (reply.status, reply.body[:200])
            return reply.version

        # The route matches the validated token's claim (jwt_authn clears the route cache).
        in_group = minted.token("alice", audience="server", group="group1")
        await settles(lambda: version(_bearer(in_group)), "app", "claim routing in force")
        assert (
            await version(_bearer(minted.token("bob", audience="server", group="g2"))) == "health"
        )
        assert await version() == "health"
        bad = await get_direct(url, headers=_bearer(_tampered(in_group)))
        assert bad.status == 401
