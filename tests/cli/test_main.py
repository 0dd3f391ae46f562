"""The ``mainsail`` entry point: a Unix tool on a closed pipe, and safe for the daemons."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from mainsail.cli.main import main

_CLOSED_STDOUT = """
import os, sys
from mainsail.cli.main import main
read, write = os.pipe()
os.close(read)
os.dup2(write, 1)
sys.exit(main(["analyze", "--list-analyzers"]))
"""


def test_main_leaves_sigpipe_alone(tmp_path: Path) -> None:
    """The daemons share this entry point: SIGPIPE's default action would kill a control
    plane writing to a socket its peer closed, so main() must not restore it."""
    before = signal.getsignal(signal.SIGPIPE)
    main(["validate", "-f", str(tmp_path / "missing.yaml")])
    assert signal.getsignal(signal.SIGPIPE) == before


def test_a_closed_stdout_stops_quietly() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CLOSED_STDOUT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
