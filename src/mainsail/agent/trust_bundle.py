"""The node's trust bundle: the roots of the newest CA answer any of its pods received.

Every pod's ``ROOTCA`` is served from it, not from that pod's own last answer. After a root
rotation the CA signs new SVIDs with the new root and sends both roots; the first pod on the
node to renew brings the new bundle, and every pod's Envoy trusts the new root at once, before
any peer presents a certificate signed by it (otherwise a pod that has not renewed yet would
refuse its renewed peers until its own renewal). istio-agent gets the same effect from istiod's
root-certificate ConfigMap.
"""

from __future__ import annotations

import asyncio


class TrustBundle:
    def __init__(self) -> None:
        self._roots: tuple[str, ...] = ()
        self._version = 0
        self._changed = asyncio.Event()

    @property
    def roots(self) -> tuple[str, ...]:
        return self._roots

    @property
    def version(self) -> int:
        """Bumped on every change; 0 while empty."""
        return self._version

    def update(self, roots: tuple[str, ...]) -> bool:
        """Take the roots of a new CA answer; True when the bundle changed."""
        if not roots or roots == self._roots:
            return False
        self._roots = roots
        self._version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()
        return True

    async def wait_newer(self, version: int) -> int:
        while self._version <= version:
            await self._changed.wait()
        return self._version
