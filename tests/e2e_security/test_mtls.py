"""Mutual TLS with real Envoys, real certificates (the mesh CA over the node agent's SDS) and
real handshakes: what PeerAuthentication modes accept and refuse at a pod's inbound port, which
client identities pass, and that auto mTLS carries mesh traffic over mTLS.

"Straight to the pod" requests go from the test process to ``<server ip>:<port>`` (the server
sidecar's inbound listener) without any client sidecar; "through the mesh" requests go from
the client app through its sidecar. A request that arrived over mTLS carries the client's
identity to the app in ``x-forwarded-client-cert`` (the echo app lists its headers).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest

from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.upstream import HttpUpstream
from mainsail.testing.waiting import wait_for
from tests.e2e_security.conftest import TRUST_DOMAIN_ALIAS
from tests.e2e_security.helpers import (
    XFCC,
    SecuredMesh,
    make_root,
    make_svid,
    mesh_root,
    mtls_get,
    plain_get,
    refused_plaintext,
    tcp_echo,
)

CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/server"

STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: STRICT}
"""
DISABLE = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: DISABLE}
"""
STRICT_BUT_HEALTH = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: server, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  mtls: {mode: STRICT}
  portLevelMtls:
    "8081": {mode: DISABLE}
"""


def xfcc_of(body: dict[str, object]) -> str:
    headers = body.get("headers", {})
    assert isinstance(headers, dict)
    return str(headers.get(XFCC, ""))


async def arrives_plaintext(secured: SecuredMesh, port: int) -> None:
    """Until a request through the mesh reaches ``port`` without a client identity. Not at
    once: a connection the client's sidecar opened over mTLS before the change stays in its
    pool until the server's old listener drains it (the agent's drain time), as with Istio."""

    async def plaintext() -> bool:
        reply = await secured.through_mesh(port)
        assert reply.status == 200, reply.body[:300]
        return xfcc_of(reply.json()) == ""

    await wait_for(
        plaintext, timeout=30, interval=0.2, message=f"mesh requests to {port} arrive plaintext"
    )


async def test_permissive_by_default_accepts_plaintext_and_mtls(secured: SecuredMesh) -> None:
    assert secured.transports(8080) == ["tls", "raw_buffer"]
    plain = await plain_get(secured.address(8080))
    assert plain.status == 200
    assert XFCC not in plain.json()["headers"]
    meshed = await secured.through_mesh(8080)
    assert meshed.status == 200, meshed.body[:300]
    xfcc = xfcc_of(meshed.json())
    # Auto mTLS: the client's sidecar presented its SVID, the server's verified it. (The
    # connection may be pooled from an earlier test, so count handshakes, not new ones.)
    assert f"URI={CLIENT_ID}" in xfcc and f"By={SERVER_ID}" in xfcc, xfcc
    assert secured.handshakes(8080) > 0


async def test_strict_refuses_plaintext_and_serves_the_mesh(secured: SecuredMesh) -> None:
    await secured.apply(
        STRICT,
        lambda: secured.transports(8080) == ["tls"] and secured.transports(8081) == ["tls"],
        "server listeners STRICT",
    )
    assert await refused_plaintext(secured.address(8080))
    assert await refused_plaintext(secured.address(8081))
    for port in (8080, 8081):
        meshed = await secured.through_mesh(port)
        assert meshed.status == 200, (port, meshed.body[:300])
        assert f"URI={CLIENT_ID}" in xfcc_of(meshed.json())


async def test_port_level_exception_keeps_the_health_port_plaintext(
    secured: SecuredMesh,
) -> None:
    await secured.apply(
        STRICT_BUT_HEALTH,
        lambda: (
            secured.transports(8080) == ["tls"]
            and secured.transports(8081) == ["raw_buffer"]
            and not any(
                "envoy.transport_socket_match" in meta
                for cluster, metas in secured.client_endpoint_metadata().items()
                if cluster.startswith("outbound|8081|")
                for meta in metas
            )
        ),
        "server 8080 STRICT, 8081 plaintext; client no longer marks 8081 for mTLS",
    )
    assert await refused_plaintext(secured.address(8080))
    health = await plain_get(secured.address(8081))
    assert health.status == 200 and health.json()["version"] == "health"
    # Through the mesh: mTLS where the server requires it, plaintext where it disabled it.
    meshed = await secured.through_mesh(8080)
    assert meshed.status == 200 and f"URI={CLIENT_ID}" in xfcc_of(meshed.json())
    await arrives_plaintext(secured, 8081)


async def test_disable_serves_plaintext_and_turns_auto_mtls_off(secured: SecuredMesh) -> None:
    cluster = "cluster/outbound|8080||server.default.svc.cluster.local"

    def disabled() -> bool:
        held = secured.traffic.client_config().get(cluster, {})
        return secured.transports(8080) == ["raw_buffer"] and not held.get(
            "transport_socket_matches"
        )

    await secured.apply(DISABLE, disabled, "server plaintext only; client auto mTLS off")
    plain = await plain_get(secured.address(8080))
    assert plain.status == 200
    await arrives_plaintext(secured, 8080)
    with pytest.raises((ssl.SSLError, OSError)):
        # Nothing terminates TLS there any more.
        await asyncio.to_thread(
            mtls_get, secured.address(8080), None, mesh_root(secured.mesh).cert_pem, Path("/tmp")
        )


async def test_strict_accepts_only_mesh_identities(secured: SecuredMesh, tmp_path: Path) -> None:
    await secured.apply(STRICT, lambda: secured.transports(8080) == ["tls"], "server STRICT")
    root = mesh_root(secured.mesh)
    address = secured.address(8080)

    def get(client: object) -> tuple[int, dict[str, object]]:
        return mtls_get(address, client, root.cert_pem, tmp_path)  # type: ignore[arg-type]

    # The positive control: an identity of the mesh's trust domain, signed by its root.
    status, body = await asyncio.to_thread(get, make_svid(root, CLIENT_ID))
    assert status == 200 and f"URI={CLIENT_ID}" in xfcc_of(body)
    # A trust-domain alias counts as the mesh's own.
    alias_id = f"spiffe://{TRUST_DOMAIN_ALIAS}/ns/default/sa/legacy"
    status, body = await asyncio.to_thread(get, make_svid(root, alias_id))
    assert status == 200 and f"URI={alias_id}" in xfcc_of(body)
    refused = [
        make_svid(root, "spiffe://evil.example/ns/default/sa/client"),  # foreign trust domain
        make_svid(root, "https://client.example/"),  # not a SPIFFE identity of ours
        make_svid(make_root()[0], CLIENT_ID),  # right name, a stranger's CA
        None,  # no client certificate
    ]
    for client in refused:
        with pytest.raises((ssl.SSLError, OSError)):
            await asyncio.to_thread(get, client)


async def test_mesh_traffic_handshakes_with_the_servers_svid(secured: SecuredMesh) -> None:
    """The client sidecar checks the server's identity: the SAN matchers of its cluster name
    the server's service account, and its TLS stats count the handshakes."""
    name = "outbound|8080||server.default.svc.cluster.local"
    replies = await secured.traffic.many(secured.url(8080), 10, concurrency=2)
    assert all(r.status == 200 for r in replies)
    # Not "more than before": the client's connection may be pooled from an earlier test.
    await wait_for(
        lambda: secured.traffic.cluster_stat(name, "ssl.handshake") > 0,
        timeout=10,
        message="client cluster counted TLS handshakes",
    )
    cluster = secured.traffic.client_config()[f"cluster/{name}"]
    context = cluster["transport_socket_matches"][0]["transport_socket"]["typed_config"]
    sans = context["common_tls_context"]["combined_validation_context"][
        "default_validation_context"
    ]["match_typed_subject_alt_names"]
    assert {m["matcher"]["exact"] for m in sans} == {
        SERVER_ID,
        f"spiffe://{TRUST_DOMAIN_ALIAS}/ns/default/sa/server",
    }


def _rule(sans: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: server, namespace: default}}
spec:
  host: server
  trafficPolicy:
    tls: {{mode: ISTIO_MUTUAL, subjectAltNames: [{sans}]}}
"""


async def test_istio_mutual_rule_checks_the_servers_identity(secured: SecuredMesh) -> None:
    """A DestinationRule's ISTIO_MUTUAL with ``subjectAltNames``: the client's sidecar refuses
    a server whose certificate names another identity (503), and accepts the right one."""
    cluster = "cluster/outbound|8080||server.default.svc.cluster.local"

    def rule_sans() -> list[str]:
        held = secured.traffic.client_config().get(cluster, {})
        context = held.get("transport_socket", {}).get("typed_config", {})
        validation = context.get("common_tls_context", {}).get("combined_validation_context", {})
        matchers = validation.get("default_validation_context", {}).get(
            "match_typed_subject_alt_names", []
        )
        return [m["matcher"]["exact"] for m in matchers]

    impostor = "spiffe://cluster.local/ns/default/sa/impostor"
    await secured.apply(_rule(impostor), lambda: rule_sans() == [impostor], "rule in force")

    async def refused() -> bool:
        # Pooled connections from before the rule belong to the replaced cluster: new ones
        # handshake under the rule.
        return (await secured.through_mesh(8080)).status == 503

    await wait_for(refused, timeout=20, interval=0.2, message="wrong server SAN refused")
    await secured.apply(_rule(SERVER_ID), lambda: rule_sans() == [SERVER_ID], "rule fixed")

    async def served() -> bool:
        reply = await secured.through_mesh(8080)
        return reply.status == 200 and f"URI={CLIENT_ID}" in xfcc_of(reply.json())

    await wait_for(served, timeout=20, interval=0.2, message="right server SAN accepted")


async def test_tcp_port_over_mtls_and_strict(secured: SecuredMesh) -> None:
    """A TCP port: PERMISSIVE has the mTLS, plaintext and pass-through TLS chains; STRICT keeps
    the mTLS one, through which the client's sidecar still reaches the app."""
    echo = secured.mesh.pod("tcp-echo")
    direct = (echo.ip, 9000)
    through_client = secured.tcp_listener_of_client("tcp-echo")
    assert secured.transports(9000, echo) == ["tls", "raw_buffer", "tls"]
    # More than a TLS record header: the TLS inspector decides on the first 5 bytes and (with
    # Istio's default protocolDetectionTimeout 0) waits for them.
    line = "hello mesh"
    assert await asyncio.to_thread(tcp_echo, direct, line) == f"9000 {line}"
    assert await asyncio.to_thread(tcp_echo, through_client, line) == f"9000 {line}"
    await secured.apply(STRICT, lambda: secured.transports(9000, echo) == ["tls"], "STRICT")
    assert await asyncio.to_thread(tcp_echo, direct, line) == ""  # plaintext: closed
    before = secured.handshakes(9000, echo)
    assert await asyncio.to_thread(tcp_echo, through_client, line) == f"9000 {line}"
    assert secured.handshakes(9000, echo) > before


async def test_auto_mtls_sends_plaintext_to_an_endpoint_without_sidecar(
    secured: SecuredMesh,
) -> None:
    """A MESH_INTERNAL ServiceEntry gets auto mTLS's socket matches, but its endpoint (a server
    of this test, no sidecar, no ``tlsMode: istio`` label) is reached by the plaintext match."""
    async with HttpUpstream("no-sidecar", host=random_loopback_address()) as upstream:
        entry = f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: legacy, namespace: default}}
spec:
  hosts: [legacy.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP, targetPort: {upstream.port}}}]
  endpoints: [{{address: {upstream.host}}}]
"""
        cluster = "cluster/outbound|8080||legacy.internal"
        await secured.apply(
            entry,
            lambda: (
                bool(
                    secured.traffic.client_config().get(cluster, {}).get("transport_socket_matches")
                )
                and "legacy.internal:8080" in json.dumps(secured.traffic.client_config())
            ),
            "client holds the entry with auto mTLS socket matches",
        )

        async def answered() -> bool:
            reply = await secured.traffic.get("http://legacy.internal:8080/")
            return reply.status == 200 and reply.body == "no-sidecar"

        await wait_for(answered, timeout=20, interval=0.2, message="plaintext to no-sidecar")
