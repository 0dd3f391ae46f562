"""The echo workload: what it answers in-process, and ``python -m mainsail.samples.echo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp.web
import pytest

from mainsail.samples.echo import EchoServer, EchoSettings, build_app
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


async def test_fail_rate_answers_503_to_the_drawn_share_of_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    draws = iter([0.1, 0.9, 0.49, 0.5])  # below 0.5 fails
    settings = EchoSettings(host=random_loopback_address(), port=0, fail_rate=0.5)
    app = build_app(settings, draw=lambda: next(draws))
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port(settings.host)
    await aiohttp.web.TCPSite(runner, settings.host, port).start()
    try:
        url = f"http://{settings.host}:{port}/x"
        statuses = [(await _get(url))[0] for _ in range(4)]
    finally:
        await runner.cleanup()
    assert statuses == [503, 200, 503, 200]
    assert capsys.readouterr().out == ""  # no request log unless asked for


async def test_fail_rate_extremes_and_request_log(capsys: pytest.CaptureFixture[str]) -> None:
    host = random_loopback_address()
    for rate, expected in ((1.0, 503), (0.0, 200)):
        settings = EchoSettings(host=host, port=0, fail_rate=rate, log_requests=True)
        async with EchoServer(settings) as server:
            for _ in range(20):
                status, body = await _get(f"http://{host}:{server.port}/p?k=v")
                assert status == expected and body["path"] == "/p"
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(lines) == 20
        assert {(line["status"], line["path"], line["query"]["k"]) for line in lines} == {
            (expected, "/p", "v")
        }


def test_fail_rate_and_request_log_from_env() -> None:
    settings = EchoSettings.from_env({"FAIL_RATE": "0.5", "LOG_REQUESTS": "true"})
    assert settings.fail_rate == 0.5 and settings.log_requests
    with pytest.raises(ValueError, match="fail_rate"):
        EchoSettings.from_env({"FAIL_RATE": "1.5"})
