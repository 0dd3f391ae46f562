"""The echo workload: what it answers in-process, and ``python -m mainsail.samples.echo``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mainsail.samples.echo import EchoServer, EchoSettings
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.waiting import wait_for


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    settings = EchoSettings(host=random_loopback_address(), port=0, version="v2", pod="echo-v2-0")
    async with EchoServer(settings) as server:
        yield f"http://{settings.host}:{server.port}"


async def _get(url: str, **options: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.request(options.pop("method", "GET"), url, **options) as response,
    ):
        return response.status, await response.json()


async def test_echoes_the_request(echo: str) -> None:
    status, body = await _get(
        f"{echo}/some/path?x=1&y=two",
        method="POST",
        headers={"X-Test": "yes", "end-user": "jason"},
        data=b"12345",
    )
    assert status == 200
    assert body["version"] == "v2" and body["pod"] == "echo-v2-0"
    assert (body["method"], body["path"]) == ("POST", "/some/path")
    assert body["query"] == {"x": "1", "y": "two"}
    assert body["headers"]["x-test"] == "yes" and body["headers"]["end-user"] == "jason"
    assert body["headers"]["host"] == echo.removeprefix("http://")
    assert body["body_length"] == 5


async def test_status_and_delay(echo: str) -> None:
    status, body = await _get(f"{echo}/fail?status=503")
    assert status == 503 and body["path"] == "/fail"
    started = time.monotonic()
    status, _ = await _get(f"{echo}/?delay=0.2&status=201")
    assert status == 201 and time.monotonic() - started >= 0.2
    for bad in ("status=abc", "status=42", "delay=-1", "delay=x"):
        status, _ = await _get(f"{echo}/?{bad}")
        assert status == 400, bad


async def test_health(echo: str) -> None:
    assert await _get(f"{echo}/health") == (200, {"status": "ok"})


def test_settings_from_env() -> None:
    assert EchoSettings.from_env({}) == EchoSettings()
    env = {"INSTANCE_IP": "127.1.2.3", "PORT": "9000", "SERVICE_VERSION": "v3", "POD_NAME": "p"}
    assert EchoSettings.from_env(env) == EchoSettings(
        host="127.1.2.3", port=9000, version="v3", pod="p"
    )


async def test_runs_as_a_module_on_instance_ip_and_port() -> None:
    host = random_loopback_address()
    port = free_port(host)
    env = {**os.environ, "INSTANCE_IP": host, "PORT": str(port), "SERVICE_VERSION": "v9"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mainsail.samples.echo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        async def serving() -> dict[str, Any]:
            return (await _get(f"http://{host}:{port}/hello"))[1]

        body = await wait_for(serving, timeout=15, message="echo serving")
        assert body["version"] == "v9" and body["path"] == "/hello"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert process.stdout is not None
        assert f"listening on {host} port {port}" in process.stdout.read().decode()
