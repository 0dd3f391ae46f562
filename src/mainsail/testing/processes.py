"""Finding the processes a test started, so none outlives it on a shared host."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def process_state(pid: int) -> str | None:
    """The ``/proc/<pid>/stat`` state letter (``R``, ``S``, ``Z`` ...), None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts as gone)."""
    return process_state(pid) in (None, "Z", "X")


def processes_mentioning(text: str) -> list[int]:
    """Live pids (not this one) whose command line contains ``text``, e.g. a state directory."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if text in cmdline and not process_gone(int(entry.name)):
                pids.append(int(entry.name))
    return sorted(pids)


def kill_processes_mentioning(text: str) -> list[int]:
    """SIGKILL every process ``processes_mentioning(text)``; returns their pids."""
    pids = processes_mentioning(text)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
