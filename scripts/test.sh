#!/usr/bin/env bash
# The whole test suite: install, lint, type-check, layering contract, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# System tools the tests use beyond Python (a fresh Debian machine may lack them).
need=()
command -v openssl >/dev/null || need+=(openssl)
# tests/agent/test_file_secrets.py serves the OS trust bundle (`file-root:system`).
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# tests/e2e_telemetry/test_prometheus.py scrapes the mesh with a real Prometheus.
command -v prometheus >/dev/null || need+=(prometheus)
# tests/e2e_dashboard drive Debian's Chromium with Playwright (no browser download);
# the dashboard's /dotviz renders the service graph with Graphviz.
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)
command -v dot >/dev/null || need+=(graphviz)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
  else
    echo "the tests need: ${need[*]} (install them, e.g. with apt-get)" >&2
    exit 1
  fi
fi
scripts/install.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports
.venv/bin/python -m pytest -q "$@"
