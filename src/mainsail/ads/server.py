"""``AdsServer``: connections, generations, the generated-config cache, debounce and pushes.

A generation is one snapshot (one generator). ``config_changed`` is debounced; when it fires,
the generation advances, the cache is dropped and every connection is queued for a push. A
push regenerates (or takes from the cache) the proxy's target ``ProxyConfig`` and hands it to
the connection's session, which stages it (see ``staging``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import grpc

from mainsail import monitoring
from mainsail.ads.clock import Clock, SystemClock
from mainsail.ads.connection import Connection
from mainsail.ads.debounce import Debouncer
from mainsail.ads.errors import SyncTimeoutError
from mainsail.ads.numbering import SharedNumbers
from mainsail.ads.push_queue import PushQueue
from mainsail.ads.servicer import AdsServicer
from mainsail.ads.session import Request
from mainsail.ads.status import ProxyStatus, TypeStatus, sync_state
from mainsail.ca.xds_peers import XdsPeers
from mainsail.snapshot.proxy import ProxyNode
from mainsail.xds.resources import ProxyConfig

Generator = Callable[[ProxyNode], ProxyConfig]

log = logging.getLogger(__name__)


class AdsServer:
    def __init__(
        self,
        generator: Generator,
        *,
        clock: Clock | None = None,
        debounce_after: float = 0.1,
        debounce_max: float = 10.0,
        stale_after: float = 1.0,
        on_idle: Callable[[], None] | None = None,
        idle_after: float = 1.0,
    ) -> None:
        """``on_idle``: called once the server has been quiet (no push, no request) for
        ``idle_after`` seconds after being busy, or every 30 s while it never is; the control
        plane tidies its heap there, out of the way of the next push."""
        self._clock: Clock = clock or SystemClock()
        self._generator = generator
        self._next_generator: Generator | None = None
        self._generation = 0
        self._generation_started = self._clock.now()
        self._cache: dict[ProxyNode, ProxyConfig] = {}
        self._connections: dict[str, Connection] = {}
        self._queue: PushQueue[str] = PushQueue(self._clock)
        self._debouncer = Debouncer(
            self._clock, self._debounced, after=debounce_after, max_delay=debounce_max
        )
        self._stale_after = stale_after
        self._idle = (
            None
            if on_idle is None
            else Debouncer(
                self._clock, _as_async(on_idle), after=idle_after, max_delay=max(idle_after, 30.0)
            )
        )
        self._worker: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        # Whether each connection's session was in sync when last looked at; a connection is
        # re-checked only after it received or was pushed something (``_touched``).
        self._in_sync: dict[str, bool] = {}
        self._touched: set[str] = set()
        # One numbering for every session: proxies sent the same response share its bytes.
        self._numbers = SharedNumbers()

    @property
    def generation(self) -> int:
        return self._generation

    def add_to_server(self, server: grpc.aio.Server, peers: XdsPeers | None = None) -> None:
        """``peers``: the TLS port's relayed connections, to authenticate their streams."""
        AdsServicer(self, peers).add_to_server(server)

    # --- config changes and pushes

    def config_changed(self, generator: Generator | None = None) -> None:
        """A new snapshot; call on the event loop. Pushed after the debounce."""
        if generator is not None:
            self._next_generator = generator
        self._debouncer.trigger()

    async def push_now(self) -> None:
        """Start the new generation and push every connected proxy, skipping the debounce."""
        self._debouncer.discard()
        self._advance_generation()
        for connection in list(self._connections.values()):
            self._push(connection)

    async def close(self) -> None:
        await self._debouncer.close()
        if self._idle is not None:
            await self._idle.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _debounced(self) -> None:
        self._advance_generation()
        for connection_id in self._connections:
            self._queue.enqueue(connection_id)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._push_worker())

    def _advance_generation(self) -> None:
        if self._next_generator is not None:
            self._generator, self._next_generator = self._next_generator, None
        self._generation += 1
        self._cache.clear()
        self._generation_started = self._clock.now()  # pilot_proxy_convergence_time

    async def _push_worker(self) -> None:
        while True:
            connection_id, _waited = await self._queue.get()
            try:
                connection = self._connections.get(connection_id)
                if connection is not None:
                    self._push(connection)
            except Exception:
                log.exception("push to %s failed; it keeps its previous config", connection_id)
            finally:
                self._queue.done(connection_id)
            await asyncio.sleep(0)  # let streams write between pushes

    def _push(self, connection: Connection) -> None:
        if connection.session.generation == self._generation:
            return
        started = self._clock.now()
        # Convergence counts config changes, not a proxy's first push.
        changed = self._generation_started if connection.session.generation else None
        config = self._config_for(connection.node)
        responses = connection.session.set_target(config, self._generation, self._clock.now())
        connection.send(responses)
        monitoring.pushed(responses, self._clock.now(), started, changed)
        self._touched.add(connection.id)
        self._notify()
        self._busy()

    def _config_for(self, node: ProxyNode) -> ProxyConfig:
        config = self._cache.get(node)
        if config is None:
            config = self._cache[node] = self._generator(node)
        return config

    # --- the servicer's hub

    def connected(self, connection: Connection) -> None:
        self._connections[connection.id] = connection
        connection.session.numbering = self._numbers
        monitoring.proxy_connected(connection.node.extra, +1)
        self._push(connection)

    def received(self, connection: Connection, request: Request) -> None:
        responses = connection.session.receive(request, self._clock.now())
        connection.send(responses)
        monitoring.xds_sent(responses)
        self._touched.add(connection.id)
        self._notify()
        self._busy()

    def disconnected(self, connection: Connection) -> None:
        if self._connections.pop(connection.id, None) is not None:
            monitoring.proxy_connected(connection.node.extra, -1)
        self._in_sync.pop(connection.id, None)
        self._touched.discard(connection.id)
        self._queue.forget(connection.id)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _busy(self) -> None:
        if self._idle is not None:
            self._idle.trigger()

    # --- status

    def proxy_status(self) -> tuple[ProxyStatus, ...]:
        now = self._clock.now()
        return tuple(
            self._status(c, now)
            for c in sorted(self._connections.values(), key=lambda c: (c.node.proxy_id, c.id))
        )

    def _status(self, connection: Connection, now: float) -> ProxyStatus:
        session = connection.session
        types = tuple(
            TypeStatus(
                type_url=t.type_url,
                sent_version=t.sent_version,
                sent_nonce=t.sent_nonce,
                acked_version=t.acked_version,
                state=sync_state(
                    exchange=t.exchange,
                    in_sync=session.type_in_sync(t) and session.active is session.target,
                    behind_generation=session.generation < self._generation,
                    unsettled_for=None if t.unsettled_since is None else now - t.unsettled_since,
                    acked_before=bool(t.acked_version),
                    moment=self._stale_after,
                ),
                error=t.error,
            )
            for t in session.types()
        )
        return ProxyStatus(
            proxy_id=connection.node.proxy_id,
            node_id=connection.node.node_id,
            connection_id=connection.id,
            mode=connection.mode.value,
            connected_since=connection.connected_since,
            generation=session.generation,
            types=types,
        )

    def _behind(self, proxy_id: str | None) -> tuple[str, ...]:
        connections = [
            c for c in self._connections.values() if proxy_id is None or c.node.proxy_id == proxy_id
        ]
        if proxy_id is not None and not connections:
            return (proxy_id,)
        return tuple(
            sorted(
                c.node.proxy_id
                for c in connections
                if c.session.generation < self._generation or not self._session_in_sync(c)
            )
        )

    def _session_in_sync(self, connection: Connection) -> bool:
        """``session.in_sync()``, recomputed only for connections touched since the last look
        (it walks every resource; waiting on 100 proxies must not redo it on every ACK)."""
        known = self._in_sync.get(connection.id)
        if known is None or connection.id in self._touched:
            known = self._in_sync[connection.id] = connection.session.in_sync()
            self._touched.discard(connection.id)
        return known

    async def wait_synced(self, proxy_id: str | None = None, timeout: float = 5.0) -> None:
        """Until every (or one) connected proxy ACKed the latest generation, all stages done."""
        timer = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            while behind := self._behind(proxy_id):
                changed = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if timer.done():
                    if behind := self._behind(proxy_id):
                        raise SyncTimeoutError(behind, timeout)
                    return
        finally:
            timer.cancel()


def _as_async(call: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        call()

    return run
