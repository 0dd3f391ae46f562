"""The control plane's JWKS fetcher: istiod's ``JwksResolver`` (default mode: istiod fetches
``jwksUri`` and inlines the keys in each jwt_authn provider).

Keys are ``xds.jwt.jwks_key``: a ``jwksUri``, or ``<issuer>/.well-known/openid-configuration``
when the keys are found by OpenID discovery. ``known()`` is a frozen mapping key → JWKS text,
handed to translation with the snapshot (translation never does I/O). A key that never fetched
is absent (translation then inlines a key set no token matches, and we log why); a refresh that
fails keeps the last good keys. Successful keys are refreshed every ``refresh_interval``
(istiod's ``PILOT_JWT_PUB_KEY_REFRESH_INTERVAL``, 20 min), failed ones retried every
``retry_interval`` (istiod: 1 min).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import aiohttp

from mainsail.config.base import Resource
from mainsail.snapshot.security_index import build_security_index
from mainsail.xds.jwt import OPENID_DISCOVERY_SUFFIX, jwks_key

log = logging.getLogger(__name__)

DEFAULT_FETCH_TIMEOUT = 5.0  # seconds; istiod's default for a jwtRule without ``timeout``


def wanted_keys(objects: Iterable[Resource], root_namespace: str) -> Mapping[str, float]:
    """The keys every RequestAuthentication in the store needs fetched (the book's legacy
    ``Policy`` origins included, as converted for translation), each with its fetch timeout in
    seconds (the rule's ``timeout``, else istiod's 5 s; the longest when rules share a key)."""
    index = build_security_index(objects, root_namespace)
    wanted: dict[str, float] = {}
    for policy_set in (index.modern, index.legacy_authn):
        for by_namespace in policy_set.request_authentications.values():
            for policy in by_namespace:
                for rule in policy.spec.jwt_rules:
                    key = jwks_key(rule)
                    if key is None:
                        continue
                    timeout = (
                        rule.timeout.total_seconds() if rule.timeout else DEFAULT_FETCH_TIMEOUT
                    )
                    wanted[key] = max(timeout, wanted.get(key, 0.0))
    return MappingProxyType(wanted)


class JwksFetchError(RuntimeError):
    """A JWKS (or OpenID discovery document) could not be fetched or is not a key set."""


class JwksFetcher:
    def __init__(
        self,
        on_change: Callable[[], None],
        *,
        timeout: float = DEFAULT_FETCH_TIMEOUT,
        refresh_interval: float = 20 * 60.0,
        retry_interval: float = 60.0,
    ) -> None:
        self._on_change = on_change
        self._timeout = timeout
        self._refresh_interval = refresh_interval
        self._retry_interval = retry_interval
        self._keys: dict[str, str] = {}
        self._failed: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timeouts: dict[str, float] = {}
        # Set once a key's first fetch finished (with keys or failed).
        self._tried: dict[str, asyncio.Event] = {}

    def known(self) -> Mapping[str, str]:
        return MappingProxyType(dict(self._keys))

    def want(self, keys: Mapping[str, float] | Iterable[str]) -> bool:
        """Track exactly ``keys`` (key → fetch timeout in seconds, or keys with the default);
        True when every one has been tried already (a push can go now), False when some are
        being fetched for the first time (``on_change`` follows)."""
        timeouts = dict(keys) if isinstance(keys, Mapping) else dict.fromkeys(keys, self._timeout)
        for gone in set(self._tasks) - set(timeouts):
            self._tasks.pop(gone).cancel()
            self._keys.pop(gone, None)
            self._failed.discard(gone)
            self._timeouts.pop(gone, None)
            self._tried.pop(gone, None)
        self._timeouts.update(timeouts)
        pending = False
        for key in set(timeouts) - set(self._tasks):
            self._tried[key] = asyncio.Event()
            self._tasks[key] = asyncio.get_running_loop().create_task(self._follow(key))
            pending = True
        return not pending

    async def first_attempts(self) -> None:
        """Until every wanted key's first fetch finished (bounded by the longest timeout): a
        restarted control plane then does not hand reconnecting proxies unfetched keys."""
        waits = [event.wait() for event in self._tried.values()]
        if not waits:
            return
        limit = max(self._timeouts.values(), default=self._timeout) + 1.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout=limit)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, key: str) -> None:
        while True:
            try:
                text = await self.fetch(key)
            except JwksFetchError as error:
                log.error(
                    "JWKS %s: %s; %s",
                    key,
                    error,
                    "keeping the last keys fetched"
                    if key in self._keys
                    else "tokens of this issuer are rejected until a fetch succeeds",
                )
                first = key not in self._keys and key not in self._failed
                self._failed.add(key)
                if first:
                    self._tried[key].set()
                    self._on_change()  # the push waited for this first attempt
                await asyncio.sleep(self._retry_interval)
                continue
            self._failed.discard(key)
            if self._keys.get(key) != text:
                self._keys[key] = text
                self._tried[key].set()
                self._on_change()
            await asyncio.sleep(self._refresh_interval)

    async def fetch(self, key: str) -> str:
        """The JWKS text for ``key`` (following OpenID discovery when the key says so)."""
        timeout = aiohttp.ClientTimeout(total=self._timeouts.get(key, self._timeout))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            uri = key
            if key.endswith(OPENID_DISCOVERY_SUFFIX):
                discovery = _json(await _get(session, key), key)
                found = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
                if not isinstance(found, str) or not found:
                    raise JwksFetchError(f"{key}: the discovery document has no jwks_uri")
                uri = found
            text = await _get(session, uri)
        keys = _json(text, uri)
        if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
            raise JwksFetchError(f"{uri}: not a JSON Web Key Set (no 'keys' list)")
        return text


async def _get(session: aiohttp.ClientSession, uri: str) -> str:
    try:
        async with session.get(uri) as response:
            if response.status != 200:
                raise JwksFetchError(f"GET {uri}: HTTP {response.status}")
            return await response.text()
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise JwksFetchError(f"GET {uri}: {error or type(error).__name__}") from None


def _json(text: str, uri: str) -> object:
    try:
        return json.loads(text)
    except ValueError as error:
        raise JwksFetchError(f"{uri}: not JSON ({error})") from None
