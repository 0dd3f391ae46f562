#!/usr/bin/env bash
# Regenerate the Python modules of Mainsail's own protos (the CA's Istio CSR API).
# The generated files are committed; tests/ca/test_proto.py checks they match this output.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
"$python" -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src --pyi_out=src \
  src/mainsail/ca/proto/ca.proto
