"""The committed generated modules are exactly what ``scripts/gen-protos.sh`` produces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mainsail

SRC = Path(mainsail.__file__).resolve().parent.parent
PROTO = "mainsail/ca/proto/ca.proto"


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{SRC}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(SRC / PROTO),
        ],
        check=True,
    )
    for name in ("ca_pb2.py", "ca_pb2_grpc.py", "ca_pb2.pyi"):
        generated = (tmp_path / "mainsail/ca/proto" / name).read_bytes()
        committed = (SRC / "mainsail/ca/proto" / name).read_bytes()
        assert generated == committed, f"{name} is stale: run scripts/gen-protos.sh"
