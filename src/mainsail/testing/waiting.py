"""Waiting for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_for(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def wait_for(
    condition: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> Any:
    """Poll ``condition`` (sync or async) until it returns something truthy; return that.

    Exceptions raised by the condition count as "not yet"; the last one is chained to the
    ``TimeoutError`` raised after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            what = message or getattr(condition, "__name__", "condition")
            raise TimeoutError(f"{what} not met within {timeout}s") from last_error
        await asyncio.sleep(interval)


def wait_for_sync(
    condition: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """``wait_for`` for code without an event loop."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
            last_error = None
        except Exception as error:
            last_error = error
        if time.monotonic() >= deadline:
            what = message or getattr(condition, "__name__", "condition")
            raise TimeoutError(f"{what} not met within {timeout}s") from last_error
        time.sleep(interval)
