"""What the authorization and JWT tests share: policies applied until the proxies they select
hold them, requests from the other namespace's pod, to tcp-echo and to the ingress gateway."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from multidict import CIMultiDict

from mainsail.platform.pod import PodSpec
from mainsail.testing.waiting import wait_for
from tests.e2e_security.helpers import SecuredMesh
from tests.e2e_traffic.helpers import Reply

DENIED_BODY = "RBAC: access denied"
SECURITY_FILTERS = ("envoy.filters.http.rbac", "envoy.filters.network.rbac", "jwt_authn")


def listeners_of(secured: SecuredMesh, pod: PodSpec) -> str:
    """Every active listener of a pod's Envoy, as JSON text (for "does it hold X" checks)."""
    dump = secured.mesh.admin(pod, "/config_dump")
    found: list[Any] = [
        item["active_state"]["listener"]
        for config in dump["configs"]
        for item in config.get("dynamic_listeners", [])
        if "active_state" in item
    ]
    return json.dumps(found)


def holds(secured: SecuredMesh, pod: PodSpec, *texts: str) -> bool:
    dump = listeners_of(secured, pod)
    return all(text in dump for text in texts)


def policy_key(name: str, namespace: str = "default", rule: int = 0) -> str:
    return f"ns[{namespace}]-policy[{name}]-rule[{rule}]"


async def apply_policy(secured: SecuredMesh, text: str, pod: PodSpec, *expect: str) -> None:
    """Apply policy YAML; wait until ``pod``'s Envoy holds every text in ``expect``."""
    await secured.apply(
        text, lambda: holds(secured, pod, *expect), f"{pod.name} holds {list(expect)}"
    )


async def settles(
    probe: Callable[[], Awaitable[object]], expected: object, message: str, times: int = 1
) -> None:
    """Until ``probe()`` gives ``expected`` ``times`` in a row. Not at once after a policy
    change: a connection a client sidecar opened before it keeps the listener's old filter
    chain until Envoy drains it (as with Istio); new connections get the new chain."""

    async def seen() -> bool:
        for _ in range(times):
            if await probe() != expected:
                return False
        return True

    await wait_for(seen, timeout=30, interval=0.2, message=message)


@asynccontextmanager
async def clean_proxies(secured: SecuredMesh) -> AsyncIterator[None]:
    """After the test: no security filter is left on tcp-echo or the gateway (the shared
    fixture waits for the server and client sidecars only)."""
    try:
        yield
    finally:
        await secured.remove_policies()
        outsider = secured.mesh.pod("outsider")

        async def unrestricted() -> int:
            mine = await get_via(secured.traffic.client, secured.url(8080))
            other = await get_via(outsider, secured.url(8080))
            return max(mine.status, other.status)

        # The sources' pooled connections are on the policy-free chain before the next test.
        await settles(unrestricted, 200, "requests to the server allowed again", times=3)
        others = [secured.mesh.pod("tcp-echo"), gateway(secured)]
        await wait_for(
            lambda: (
                not any(
                    name in listeners_of(secured, pod)
                    for pod in others
                    for name in SECURITY_FILTERS
                )
            ),
            timeout=20,
            message="tcp-echo and the gateway hold no security filters",
        )


def gateway(secured: SecuredMesh) -> PodSpec:
    return next(p for p in secured.mesh.pods() if p.proxy_type == "router")


async def get_via(
    pod: PodSpec,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request from ``pod``'s app through its sidecar (its HTTP-proxy listener)."""
    proxy = f"http://{pod.ip}:{pod.proxy_ports.outbound}"
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.request(method, url, proxy=proxy, headers=headers or {}) as response,
    ):
        return Reply(response.status, CIMultiDict(response.headers), await response.text())


async def get_direct(
    url: str, *, headers: dict[str, str] | None = None, source: str | None = None
) -> Reply:
    """One request from the test process (optionally from address ``source``), no sidecar."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0) if source else None, force_close=True)
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
        http.get(url, headers=headers or {}) as response,
    ):
        return Reply(response.status, CIMultiDict(response.headers), await response.text())


def tcp_listener(secured: SecuredMesh, port: int) -> tuple[str, int]:
    """The client sidecar's listener for ``tcp-echo:<port>`` (its app's TCP_ECHO_SERVICE_*)."""
    cluster = f"outbound|{port}||tcp-echo.default.svc.cluster.local"
    client = secured.traffic.client
    for config in secured.mesh.admin(client, "/config_dump")["configs"]:
        for item in config.get("dynamic_listeners", []):
            listener = item.get("active_state", {}).get("listener", {})
            if f'"{cluster}"' in json.dumps(listener):
                address = listener["address"]["socket_address"]
                return address["address"], int(address["port_value"])
    raise LookupError(f"no listener for {cluster} on the client sidecar")


def _echo_once(address: tuple[str, int]) -> str:
    """One line through tcp-echo; ``""`` when the connection is closed before an answer
    (what RBAC does to a denied TCP connection)."""
    try:
        with socket.create_connection(address, timeout=10) as conn:
            conn.sendall(b"hello\n")
            return conn.makefile().readline().strip()
    except (ConnectionError, TimeoutError, OSError):
        return ""


async def tcp_echo(address: tuple[str, int]) -> str:
    return await asyncio.to_thread(_echo_once, address)
