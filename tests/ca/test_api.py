"""The CA's part of the control-plane HTTP API: roots, rotation, revocation, listings, and
bad requests answered 400/409 with a message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mainsail.api.server import build_app
from mainsail.ca.service import CertificateAuthority
from mainsail.config.validation import validate_all
from mainsail.sources.store import ConfigStore

from .conftest import OrgPki, bearer, certs, csr_pem, token_for


async def client_for(ca: CertificateAuthority) -> TestClient[Any, Any]:
    app = build_app(ConfigStore(validator=validate_all), lambda: [], None, ca)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(ca: CertificateAuthority) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(ca)
    yield client
    await client.close()


async def call(
    client: TestClient[Any, Any], method: str, path: str, status: int, body: object = None
) -> Any:
    response = await client.request(method, path, json=body)
    payload = await response.json()
    assert response.status == status, payload
    return payload


async def test_roots_rotation_revocation_and_listings(
    ca: CertificateAuthority, client: TestClient[Any, Any]
) -> None:
    roots = await call(client, "GET", "/apis/ca/roots", 200)
    root = ca.material.certificate
    assert roots["trust_domain"] == "cluster.local"
    assert roots["plugged_in"] is False
    assert [r["serial"] for r in roots["roots"]] == [f"{root.serial_number:x}"]
    assert roots["roots"][0]["fingerprint_sha256"].count(":") == 31
    assert certs(roots["bundle_pem"]) == [root]

    chain = ca.create_certificate(bearer(token_for(ca)), csr_pem(), 0)
    serial = f"{certs(chain[0])[0].serial_number:x}"
    listed = await call(client, "GET", "/apis/ca/issued", 200)
    assert [r["serial"] for r in listed["issued"]] == [serial]

    revoked = await call(
        client, "POST", "/apis/ca/revoke", 200, {"namespace": "default", "service_account": "sleep"}
    )
    assert revoked["workload"] == "default/sleep" and revoked["serials"] == [serial]
    listed = await call(client, "GET", "/apis/ca/issued", 200)
    assert listed["revoked"][0]["workload"] == "default/sleep"

    rotated = await call(client, "POST", "/apis/ca/rotate-root", 200, {"overlap_seconds": 60})
    assert rotated["root"]["serial"] != f"{root.serial_number:x}"
    assert len(rotated["roots"]) == 2


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/apis/ca/rotate-root", {"overlap_seconds": -1}, "non-negative"),
        ("/apis/ca/rotate-root", {"overlap_seconds": "1h"}, "non-negative"),
        ("/apis/ca/rotate-root", [1], "non-negative"),
        ("/apis/ca/revoke", {"namespace": "default"}, "'service_account'"),
    ],
)
async def test_bad_requests_are_400(
    client: TestClient[Any, Any], path: str, body: object, message: str
) -> None:
    payload = await call(client, "POST", path, 400, body)
    assert message in payload["errors"][0]["message"]


async def test_rotating_a_plugged_in_root_is_409(
    make_ca: Callable[..., CertificateAuthority], org_pki: OrgPki
) -> None:
    client = await client_for(make_ca(cacerts_dir=org_pki.directory))
    try:
        payload = await call(client, "POST", "/apis/ca/rotate-root", 409, {})
        assert "plugged in" in payload["errors"][0]["message"]
        roots = await call(client, "GET", "/apis/ca/roots", 200)
        assert roots["plugged_in"] is True
        assert certs(roots["bundle_pem"]) == [org_pki.root]
    finally:
        await client.close()
