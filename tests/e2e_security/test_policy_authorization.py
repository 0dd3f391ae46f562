"""Istio's authorization tasks with real Envoys: HTTP traffic, TCP traffic, explicit deny and
dry-run (istio.io tasks/security/authorization). Sources: ``client`` (default/sa client) and
``outsider`` (other/sa outsider) through their sidecars, auto mTLS carrying their identities
to ``server``; denied HTTP is Envoy's 403 ``RBAC: access denied``, a denied TCP connection
is closed before any byte."""

from __future__ import annotations

import asyncio
import re

from mainsail.testing.waiting import wait_for
from tests.e2e_security.authz_helpers import (
    DENIED_BODY,
    apply_policy,
    clean_proxies,
    get_via,
    holds,
    policy_key,
    settles,
    tcp_echo,
    tcp_listener,
)
from tests.e2e_security.helpers import SecuredMesh

DENY_ALL = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: default}
spec: {}
"""

ALLOW_CLIENT_GET = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server-viewer, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/client"]}
    to:
    - operation: {methods: ["GET"], paths: ["/info*"]}
"""


async def _status(secured: SecuredMesh, path: str, method: str = "GET") -> int:
    reply = await secured.traffic.get(secured.url(8080, path), method=method)
    return reply.status


async def test_deny_all_then_allow_get_from_one_identity(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        server = secured.server
        assert (await secured.through_mesh(8080, "/info")).status == 200
        await apply_policy(secured, DENY_ALL, server, policy_key("allow-nothing"))
        await settles(lambda: _status(secured, "/info"), 403, "deny-all in force")
        denied = await secured.through_mesh(8080, "/info")
        assert (denied.status, denied.body) == (403, DENIED_BODY)
        await apply_policy(secured, ALLOW_CLIENT_GET, server, policy_key("server-viewer"))
        # Allowed: GET /info* from the client's identity only; the rest stays denied.
        await settles(lambda: _status(secured, "/info/a"), 200, "the ALLOW in force")
        assert await _status(secured, "/info/a", "POST") == 403
        assert await _status(secured, "/other") == 403
        outsider = secured.mesh.pod("outsider")
        from_other = await get_via(outsider, secured.url(8080, "/info/a"))
        assert (from_other.status, from_other.body) == (403, DENIED_BODY)


NAMESPACE_AND_HEADER = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: from-other, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  rules:
  - from: [{source: {namespaces: ["other"]}}]
  - when:
    - key: request.headers[x-token]
      values: ["open-*"]
"""


async def test_namespace_and_header_conditions(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        await apply_policy(secured, NAMESPACE_AND_HEADER, secured.server, policy_key("from-other"))
        outsider = secured.mesh.pod("outsider")
        await settles(lambda: _status(secured, "/"), 403, "the ALLOW in force")

        async def from_outsider() -> int:
            return (await get_via(outsider, secured.url(8080, "/"))).status

        # The outsider's sidecar may still pool a connection to the server's previous chain.
        await settles(from_outsider, 200, "the other namespace allowed")
        opened = await secured.traffic.get(secured.url(8080), headers={"x-token": "open-sesame"})
        assert opened.status == 200


EXPLICIT_DENY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-method-get, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  action: DENY
  rules:
  - to: [{operation: {methods: ["GET"]}}]
    when:
    - key: request.headers[x-token]
      notValues: ["admin"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-path-ip, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/ip"]}}]
"""


async def test_explicit_deny_wins_over_allow(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        await apply_policy(
            secured,
            EXPLICIT_DENY,
            secured.server,
            policy_key("deny-method-get"),
            policy_key("allow-path-ip"),
        )
        url = secured.url(8080, "/ip")
        # GET without the admin token is denied.
        await settles(lambda: _status(secured, "/ip"), 403, "the DENY in force")
        admin = await secured.traffic.get(url, headers={"x-token": "admin"})
        assert admin.status == 200  # not denied, and allowed by the ALLOW on /ip
        assert (await secured.traffic.get(url, method="POST")).status == 200
        # Not denied but not allowed either: an ALLOW policy exists, so the rest is denied.
        other = await secured.traffic.get(
            secured.url(8080, "/headers"), headers={"x-token": "admin"}
        )
        assert (other.status, other.body) == (403, DENIED_BODY)


DRY_RUN_DENY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry-deny
  namespace: default
  annotations: {"istio.io/dry-run": "true"}
spec:
  selector:
    matchLabels: {app: server}
  action: DENY
  rules: [{to: [{operation: {paths: ["/dry*"]}}]}]
"""


async def test_dry_run_only_counts(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        await apply_policy(secured, DRY_RUN_DENY, secured.server, "istio_dry_run_deny_")
        # Envoy's stat: <HCM prefix>.rbac.<shadow_rules_stat_prefix>.shadow_denied
        stat = "http.inbound_0.0.0.0_8080.rbac.istio_dry_run_deny_.shadow_denied"

        def shadow_denied() -> int:
            return secured.traffic.stats(secured.server, f"^{re.escape(stat)}$").get(stat, 0)

        before = shadow_denied()

        async def counted_not_denied() -> bool:
            reply = await secured.through_mesh(8080, "/dry-run")
            assert reply.status == 200, reply.body[:200]  # never enforced
            return shadow_denied() > before

        await wait_for(counted_not_denied, timeout=30, interval=0.2, message="shadow denial")
        assert (await secured.through_mesh(8080, "/dry-run")).status == 200


ALLOW_TCP_9000 = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: tcp-policy, namespace: default}}
spec:
  selector:
    matchLabels: {{app: tcp-echo}}
  action: {action}
  rules:
  - to: [{{operation: {{ports: ["9000"]{extra}}}}}]
"""


async def test_tcp_traffic(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        tcp = secured.mesh.pod("tcp-echo")
        to_9000, to_9001 = tcp_listener(secured, 9000), tcp_listener(secured, 9001)
        assert await tcp_echo(to_9000) == "9000 hello"
        assert await tcp_echo(to_9001) == "9001 hello"
        # ALLOW port 9000: 9001 is no longer allowed (the connection is closed).
        allow = ALLOW_TCP_9000.format(action="ALLOW", extra="")
        await apply_policy(secured, allow, tcp, policy_key("tcp-policy"))
        await settles(lambda: tcp_echo(to_9001), "", "port 9001 no longer allowed")
        assert await tcp_echo(to_9000) == "9000 hello"
        # An HTTP-only field in an ALLOW rule drops the rule on TCP: nothing is allowed.
        http_only = ALLOW_TCP_9000.format(action="ALLOW", extra=', methods: ["GET"]')
        await asyncio.to_thread(secured.traffic.api.apply, http_only, "test")
        await wait_for(
            lambda: not holds(secured, tcp, policy_key("tcp-policy")),
            timeout=20,
            message="the ALLOW rule with methods is dropped on TCP",
        )
        await settles(lambda: tcp_echo(to_9000), "", "nothing allowed on TCP")
        # In a DENY rule only the HTTP condition is dropped: port 9000 is denied for everyone.
        deny = ALLOW_TCP_9000.format(action="DENY", extra=', methods: ["GET"]')
        await apply_policy(secured, deny, tcp, policy_key("tcp-policy"), '"DENY"')
        await settles(lambda: tcp_echo(to_9001), "9001 hello", "port 9001 allowed again")
        assert await tcp_echo(to_9000) == ""
        assert await tcp_echo(to_9001) == "9001 hello"


async def test_authz_check_lists_the_policies(secured: SecuredMesh) -> None:
    async with clean_proxies(secured):
        await apply_policy(
            secured,
            EXPLICIT_DENY,
            secured.server,
            policy_key("deny-method-get"),
            policy_key("allow-path-ip"),
        )
        result = await asyncio.to_thread(secured.mesh.cli, "authz", "check", "server")
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()]
        assert rows[0] == ["ACTION", "AuthorizationPolicy", "RULES"]
        assert rows[1:] == [
            ["DENY", "deny-method-get.default", "1"],
            ["ALLOW", "allow-path-ip.default", "1"],
        ]


EXT_AUTHZ = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: default}
spec:
  selector:
    matchLabels: {app: server}
  action: CUSTOM
  provider: {name: sample-ext-authz-http}
  rules:
  - to: [{operation: {paths: ["/headers"]}}]
"""


async def test_custom_action_with_ext_authz(secured: SecuredMesh) -> None:
    """Istio's ext-authz task: requests to /headers are checked by the external authorizer,
    which allows only those with ``x-ext-authz: allow``; other paths are not checked."""
    async with clean_proxies(secured):
        await apply_policy(
            secured, EXT_AUTHZ, secured.server, "istio-ext-authz-sample-ext-authz-http-"
        )
        await settles(lambda: _status(secured, "/headers"), 403, "CUSTOM in force")
        denied = await secured.traffic.get(secured.url(8080, "/headers"))
        assert denied.status == 403
        assert "denied by ext_authz" in denied.body
        assert denied.headers.get("x-ext-authz-check-result") == "denied"
        allowed = await secured.traffic.get(
            secured.url(8080, "/headers"), headers={"x-ext-authz": "allow"}
        )
        assert allowed.status == 200, allowed.body[:200]
        assert (await secured.through_mesh(8080, "/ip")).status == 200  # not checked
