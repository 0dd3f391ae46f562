"""Starting and stopping the mesh's own processes (control plane, node agent) from a launcher.

They run in their own sessions so a Ctrl-C in the launcher's terminal does not kill them before
the launcher has drained the proxies; either can be killed and restarted on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): reap it if it is ours, else read its state.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


async def spawn_mainsail(args: list[str], log_file: Path) -> asyncio.subprocess.Process:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mainsail",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


async def terminate(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while pid_alive(pid) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# Every process a mesh starts (control plane, node agent, Envoys, apps) inherits this variable
# from the launcher, naming the mesh's state directory: ``down`` can find them even when the
# launcher itself was killed and nothing else recorded their pids.
MESH_MARKER = "MAINSAIL_MESH"


def mark_as_mesh(root: Path) -> None:
    os.environ[MESH_MARKER] = str(root.resolve())


def processes_of_mesh(root: Path) -> list[int]:
    """Pids of the processes started for the mesh whose state directory is ``root``."""
    wanted = f"{MESH_MARKER}={root.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


async def terminate_all(pids: list[int], grace: float = 10.0) -> None:
    await asyncio.gather(*(terminate(pid, grace) for pid in pids))
