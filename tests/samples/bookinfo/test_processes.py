"""The apps as the local platform runs them: ``python -m``, configured by env, stopped by signal."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

_LISTENING = re.compile(rb"listening on (\S+) port (\d+)")
_STARTUP_TIMEOUT = 60.0

Launch = Callable[..., Awaitable[tuple[asyncio.subprocess.Process, int]]]


@pytest.fixture
async def launch() -> AsyncIterator[Launch]:
    processes: list[asyncio.subprocess.Process] = []

    async def launch_app(service: str, **env: str) -> tuple[asyncio.subprocess.Process, int]:
        child_env = {
            key: value
            for key, value in os.environ.items()
            if key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        }
        child_env.update(INSTANCE_IP="127.0.0.1", PORT="0", **env)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"mainsail.samples.bookinfo.{service}",
            env=child_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        processes.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), _STARTUP_TIMEOUT)
        match = _LISTENING.search(line)
        assert match, line
        assert match.group(1) == b"127.0.0.1"
        return process, int(match.group(2))

    yield launch_app
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _upstream(service: str, port: int) -> dict[str, str]:
    return {
        f"{service.upper()}_HOSTNAME": "127.0.0.1",
        f"{service.upper()}_SERVICE_PORT": str(port),
    }


async def test_bookinfo_runs_as_processes_wired_by_env(launch: Launch) -> None:
    _, ratings_port = await launch("ratings")
    _, details_port = await launch("details")
    _, reviews_port = await launch(
        "reviews", SERVICE_VERSION="v3", **_upstream("ratings", ratings_port)
    )
    _, page_port = await launch(
        "productpage", **_upstream("details", details_port), **_upstream("reviews", reviews_port)
    )

    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{page_port}/productpage") as response,
    ):
        page = await response.text()

    assert response.status == 200
    assert "Book Details" in page
    assert page.count('<font color="red">') == 2


@pytest.mark.parametrize(
    ("service", "signum"),
    [
        ("details", signal.SIGTERM),
        ("ratings", signal.SIGTERM),
        ("reviews", signal.SIGTERM),
        ("productpage", signal.SIGTERM),
        ("productpage", signal.SIGINT),
    ],
)
async def test_app_serves_health_and_stops_cleanly_on_signal(
    launch: Launch, service: str, signum: signal.Signals
) -> None:
    process, port = await launch(service)

    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{port}/health") as response,
    ):
        assert response.status == 200

    process.send_signal(signum)
    assert await asyncio.wait_for(process.wait(), _STARTUP_TIMEOUT) == 0
