"""The control plane's JWKS fetcher against a real HTTP server on loopback."""

from __future__ import annotations

import json
import re

import pytest

from mainsail.config.parse import parse_documents
from mainsail.runtime.jwks import JwksFetcher, JwksFetchError, wanted_keys
from mainsail.testing.jwt_issuer import JwksServer, JwtIssuer
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for


async def test_fetches_follows_discovery_and_reports_changes() -> None:
    server = await JwksServer(JwtIssuer()).start()
    changes: list[int] = []
    fetcher = JwksFetcher(lambda: changes.append(1), refresh_interval=0.05)
    discovery = f"{server.url}/.well-known/openid-configuration"
    try:
        assert fetcher.want(frozenset({server.jwks_uri, discovery})) is False  # first fetch
        await wait_for(lambda: len(fetcher.known()) == 2, timeout=10, message="both fetched")
        known = fetcher.known()
        assert json.loads(known[server.jwks_uri])["keys"][0]["kid"] == server.issuer.kid
        assert known[discovery] == known[server.jwks_uri]
        assert changes
        # A rotated key is picked up by the periodic refresh and reported.
        seen = len(changes)
        server.issuer.kid = "rotated"
        await wait_for(
            lambda: "rotated" in fetcher.known()[server.jwks_uri], timeout=10, message="refresh"
        )
        assert len(changes) > seen
        assert fetcher.want(frozenset({server.jwks_uri})) is True  # nothing new to wait for
        assert discovery not in fetcher.known()
    finally:
        await fetcher.close()
        await server.stop()


async def test_failure_keeps_nothing_then_recovers_and_keeps_last_good() -> None:
    server = await JwksServer(JwtIssuer(), fail=True).start()
    changes: list[int] = []
    fetcher = JwksFetcher(lambda: changes.append(1), retry_interval=0.05, refresh_interval=0.05)
    try:
        fetcher.want(frozenset({server.jwks_uri}))
        # The first failure is reported (the push waiting for it can go), keys stay absent.
        await wait_for(lambda: bool(changes), timeout=10, message="first attempt")
        assert fetcher.known() == {}
        server.fail = False
        await wait_for(lambda: server.jwks_uri in fetcher.known(), timeout=10, message="retry")
        good = fetcher.known()[server.jwks_uri]
        server.fail = True
        failed_from = server.requests
        await wait_for(lambda: server.requests > failed_from + 1, timeout=10, message="refresh")
        assert fetcher.known()[server.jwks_uri] == good
    finally:
        await fetcher.close()
        await server.stop()


async def test_unreachable_and_not_a_key_set() -> None:
    fetcher = JwksFetcher(lambda: None, timeout=2.0)
    unreachable = f"http://127.0.0.1:{free_port()}/jwks"
    with pytest.raises(JwksFetchError, match=re.escape(unreachable)):
        await fetcher.fetch(unreachable)
    server = await JwksServer(JwtIssuer()).start()
    try:
        # The discovery document is JSON but not a key set.
        with pytest.raises(JwksFetchError, match="not a JSON Web Key Set"):
            await fetcher.fetch(f"{server.url}/.well-known/openid-configuration?as=jwks")
    finally:
        await server.stop()


def test_wanted_keys_from_store_objects() -> None:
    text = """apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  jwtRules:
  - {issuer: "https://a", jwksUri: "https://a/keys"}
  - {issuer: "https://a2", jwksUri: "https://a/keys", timeout: 12s}
  - {issuer: "https://b"}
  - {issuer: "https://c", jwks: '{"keys": []}'}
"""
    parsed = parse_documents(text, source="t.yaml")
    assert parsed.ok
    assert wanted_keys(parsed.resources, "istio-system") == {
        "https://a/keys": 12.0,  # the longest timeout of the rules sharing the key
        "https://b/.well-known/openid-configuration": 5.0,
    }


async def test_first_attempts_waits_for_success_and_failure() -> None:
    good = await JwksServer(JwtIssuer()).start()
    bad = await JwksServer(JwtIssuer(), fail=True).start()
    fetcher = JwksFetcher(lambda: None, retry_interval=60, refresh_interval=60)
    try:
        await fetcher.first_attempts()  # nothing wanted: returns at once
        fetcher.want({good.jwks_uri: 5.0, bad.jwks_uri: 5.0})
        await fetcher.first_attempts()
        assert set(fetcher.known()) == {good.jwks_uri}
        assert bad.requests == 1
    finally:
        await fetcher.close()
        await good.stop()
        await bad.stop()
