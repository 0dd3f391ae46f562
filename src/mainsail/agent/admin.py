"""The few Envoy admin calls the agent makes: readiness, drain, active connections."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp

READINESS_STATS = ("cluster_manager.cds.update_success", "listener_manager.lds.update_success")


class EnvoyAdmin:
    def __init__(
        self, host: str, port: int, session: aiohttp.ClientSession, *, timeout: float = 1.0
    ) -> None:
        self._base = f"http://{host}:{port}"
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def server_state(self) -> str | None:
        """``/ready``'s answer (``LIVE``, ``PRE_INITIALIZING``, ...), None when admin is not up."""
        try:
            async with self._session.get(f"{self._base}/ready", timeout=self._timeout) as resp:
                return (await resp.text()).strip()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def stats(self, names: Iterable[str]) -> dict[str, int]:
        """Counter and gauge values of the exactly named stats that Envoy has."""
        wanted = tuple(names)
        pattern = "^(" + "|".join(name.replace(".", r"\.") for name in wanted) + ")$"
        text = await self._get_text("/stats", {"filter": pattern})
        return {k: v for k, v in _parse_stats(text).items() if k in wanted}

    async def is_ready(self) -> bool:
        """Istio's readiness: at least one accepted CDS and LDS update, and the server LIVE."""
        try:
            values = await self.stats(READINESS_STATS)
        except (aiohttp.ClientError, TimeoutError):
            return False
        if any(values.get(name, 0) < 1 for name in READINESS_STATS):
            return False
        return await self.server_state() == "LIVE"

    async def drain_inbound_listeners(self) -> bool:
        """``POST /drain_listeners?inboundonly&graceful``; False when admin did not accept it."""
        try:
            async with self._session.post(
                f"{self._base}/drain_listeners?inboundonly&graceful", timeout=self._timeout
            ) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def active_downstream_connections(self, ignore: Iterable[str] = ()) -> int:
        """Sum of ``listener.*.downstream_cx_active``, without the admin listener and ``ignore``
        (stat prefixes such as ``listener.127.0.0.5_15090.`` of the static listeners)."""
        prefixes = ("listener.admin.", *ignore)
        text = await self._get_text("/stats", {"usedonly": "", "filter": r"downstream_cx_active$"})
        return sum(
            value
            for name, value in _parse_stats(text).items()
            if name.startswith("listener.") and not name.startswith(prefixes)
        )

    async def _get_text(self, path: str, params: dict[str, str]) -> str:
        async with self._session.get(
            f"{self._base}{path}", params=params, timeout=self._timeout
        ) as resp:
            resp.raise_for_status()
            return await resp.text()


def _parse_stats(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.rpartition(": ")
        if sep and value.strip().isdigit():
            values[name.strip()] = int(value)
    return values
