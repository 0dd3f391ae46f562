"""``mainsail traces``: the list and the waterfall, read over HTTP from a real collector."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from mainsail.cli.main import main
from mainsail.cli.traces import summarize, waterfall
from mainsail.runtime.trace_collector import TraceStore, collector_app
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port

TRACE = "0af7651916cd43dd8448eb211c80319c"
T0 = int(time.time() * 1_000_000)


def span(
    span_id: str, parent: str | None, service: str, start_ms: float, ms: float, kind: str
) -> dict[str, object]:
    out: dict[str, object] = {
        "traceId": TRACE,
        "id": span_id,
        "name": f"{service}.default.svc.cluster.local:9080/*",
        "kind": kind,
        "timestamp": T0 + int(start_ms * 1000),
        "duration": int(ms * 1000),
        "localEndpoint": {"serviceName": f"{service}.default"},
    }
    if parent:
        out["parentId"] = parent
    return out


BOOKINFO = [
    span("000000000000000a", None, "istio-ingressgateway", 0, 40, "CLIENT"),
    span("000000000000000b", "000000000000000a", "productpage", 1, 38, "SERVER"),
    span("000000000000000c", "000000000000000b", "reviews", 10, 20, "CLIENT"),
    span("000000000000000d", "000000000000000c", "reviews", 11, 18, "SERVER"),
    span("000000000000000e", "000000000000000b", "details", 3, 5, "CLIENT"),
]


@pytest.fixture
def collector_url() -> Iterator[str]:
    """A collector holding the BookInfo trace, served from its own thread (the CLI blocks)."""
    host = random_loopback_address()
    port = free_port(host)
    store = TraceStore()
    store.add(BOOKINFO)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(collector_app(store), access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def test_summary_and_waterfall_shape() -> None:
    summary = summarize(BOOKINFO)
    assert summary.root.startswith("istio-ingressgateway.default:")
    assert (summary.duration_us, summary.spans) == (40_000, 5)
    lines = waterfall(BOOKINFO)
    names = [line.split("  ")[0:3] for line in lines[2:]]
    # Children under their parent, siblings by start: details (3 ms) before reviews (10 ms).
    indents = [len(line) - len(line.lstrip()) for line in lines[2:]]
    assert indents == [0, 2, 4, 4, 6], names
    assert "details" in lines[4] and "reviews" in lines[5]
    assert "10ms" in lines[5] and "20ms" in lines[5]
    bar = lines[5].split("|")[1]
    assert len(bar) == 40 and bar.index("█") == 10 and bar.count("█") == 20


def test_traces_list_and_one(collector_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "--url", collector_url]) == 0
    out = capsys.readouterr().out
    assert TRACE in out and "istio-ingressgateway.default" in out and "40ms" in out
    assert main(["traces", "--url", collector_url, "--service", "ratings.default"]) == 0
    assert "no traces yet" in capsys.readouterr().out
    assert main(["traces", "--url", collector_url, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["spans"] == 5
    assert main(["traces", TRACE, "--url", collector_url]) == 0
    waterfall_text = capsys.readouterr().out
    assert waterfall_text.startswith(f"trace {TRACE}: 5 spans, 40ms")
    assert main(["traces", "f" * 32, "--url", collector_url]) == 1
    assert "no such trace" in capsys.readouterr().err
