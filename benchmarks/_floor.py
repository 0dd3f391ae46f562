"""What the floor benchmarks share: nginx answering 1 KB, and two bare Envoys (a client and a
server, hand-written static bootstraps, ``--concurrency 1`` as the sidecars run)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hop_cost import _NGINX_LAUNCHER, BODY_BYTES

from mainsail.testing.envoy_process import EnvoyProcess
from mainsail.testing.loopback import random_loopback_address
from mainsail.testing.ports import free_port


@asynccontextmanager
async def nginx_upstream(workdir: Path) -> AsyncIterator[tuple[str, int]]:
    """nginx (one worker, 1 KB for every request) on a free port of a new loopback address."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None or shutil.which("wrk") is None:
        sys.exit("needs wrk and nginx: apt-get install wrk nginx-light")
    host = random_loopback_address()
    app = (host, free_port(host))
    launcher = workdir / "serve-1kb.sh"
    launcher.write_text(
        _NGINX_LAUNCHER.format(body="x" * BODY_BYTES, nginx=nginx, directory=workdir / "nginx")
    )
    launcher.chmod(0o755)
    upstream = subprocess.Popen(
        [str(launcher)], env={**os.environ, "INSTANCE_IP": app[0], "PORT": str(app[1])}
    )
    try:
        yield app
    finally:
        upstream.terminate()
        upstream.wait(10)


@asynccontextmanager
async def bare_envoys(
    workdir: Path, server: dict[str, Any], client: dict[str, Any]
) -> AsyncIterator[tuple[int, int]]:
    """The two Envoys started and ready; yields their pids (server, client)."""
    envoys = [
        EnvoyProcess(server, workdir / "server", extra_args=["--concurrency", "1"]),
        EnvoyProcess(client, workdir / "client", extra_args=["--concurrency", "1"]),
    ]
    try:
        for envoy in envoys:
            await envoy.start()
            await envoy.wait_ready()
        yield (
            _pid_of(workdir / "server" / "bootstrap.json"),
            _pid_of(workdir / "client" / "bootstrap.json"),
        )
    finally:
        for envoy in envoys:
            await envoy.stop()


def _pid_of(bootstrap: Path) -> int:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if str(bootstrap) in argv:
            return int(entry.name)
    raise RuntimeError(f"no Envoy runs {bootstrap}")


async def wrk_p50(url: str, seconds: float, script: Path, connections: int) -> int:
    """p50 latency in microseconds of one paced wrk run."""
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    found = re.search(r"^RESULT (\d+) (\d+) (\d+) ", out.decode(errors="replace"), re.MULTILINE)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {url}:\n{out.decode(errors='replace')}")
    return int(found.group(3))


async def paired_p50(
    runs: Sequence[tuple[str, Path]], seconds: float, warmup: float, connections: int = 8
) -> list[int]:
    """Each (url, paced script) run at the same time, after an unmeasured run of all of them at
    once: their p50s in microseconds, measured on the very same machine."""
    await asyncio.gather(*(wrk_p50(url, warmup, script, connections) for url, script in runs))
    return list(
        await asyncio.gather(*(wrk_p50(url, seconds, script, connections) for url, script in runs))
    )
