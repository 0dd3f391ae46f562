from __future__ import annotations

import asyncio

from mainsail.ads.push_queue import PushQueue
from mainsail.testing.clock import FakeClock, settle


async def test_enqueue_is_idempotent_and_fifo() -> None:
    clock = FakeClock()
    queue: PushQueue[str] = PushQueue(clock)
    for key in ("a", "b", "a", "c", "b"):
        queue.enqueue(key)
    assert len(queue) == 3
    await clock.advance(0.5)
    assert await queue.get() == ("a", 0.5)
    assert [(await queue.get())[0] for _ in range(2)] == ["b", "c"]


async def test_enqueue_while_in_progress_requeues_after_done() -> None:
    queue: PushQueue[str] = PushQueue(FakeClock())
    queue.enqueue("a")
    key, _ = await queue.get()
    queue.enqueue("a")
    queue.enqueue("a")
    assert len(queue) == 0 and queue.in_progress == {"a"}
    queue.done(key)
    assert len(queue) == 1 and not queue.in_progress
    queue.done("a")
    assert len(queue) == 1


async def test_get_waits_for_work_and_forget_drops() -> None:
    queue: PushQueue[str] = PushQueue(FakeClock())
    waiter = asyncio.ensure_future(queue.get())
    await settle()
    assert not waiter.done()
    queue.enqueue("x")
    queue.enqueue("gone")
    queue.forget("gone")
    await settle()
    assert waiter.result()[0] == "x"
    assert len(queue) == 0
