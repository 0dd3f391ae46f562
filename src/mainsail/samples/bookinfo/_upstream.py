"""Where a BookInfo service finds the services it calls, and how it calls them.

Calls go to plain URLs such as ``http://ratings:9080/ratings/0``. The client session trusts the
environment, so with ``HTTP_PROXY`` set (the sidecar's HTTP-proxy listener on the local
platform) the mesh resolves the name and routes the request; without it, the host names from
``<SERVICE>_HOSTNAME`` are dialled directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp import web

_log = logging.getLogger(__name__)

DEFAULT_SERVICE_PORT = "9080"

CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("client", aiohttp.ClientSession)


def service_url(env: Mapping[str, str], service: str) -> str:
    """``http://<host>[.<SERVICES_DOMAIN>]:<port>`` for ``service``, read as Istio's apps do."""
    prefix = service.upper()
    host = env.get(f"{prefix}_HOSTNAME") or service
    port = env.get(f"{prefix}_SERVICE_PORT") or DEFAULT_SERVICE_PORT
    domain = env.get("SERVICES_DOMAIN")
    if domain:
        host = f"{host}.{domain}"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def client_session(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: one outbound session per app, closed when the app stops."""
    async with aiohttp.ClientSession(trust_env=True) as session:
        app[CLIENT] = session
        yield


async def get_json(
    session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str], timeout: float
) -> tuple[int, Any]:
    """GET ``url``: (status, decoded JSON body). Status 0 and body None when no answer came.

    A non-JSON body decodes to None; callers treat anything but 200 as a failed dependency.
    """
    try:
        async with session.get(
            url, headers=dict(headers), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            text = await response.text()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as error:
        _log.info("GET %s failed: %r", url, error)
        return 0, None
    try:
        return status, json.loads(text)
    except ValueError:
        return status, None
