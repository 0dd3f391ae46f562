"""The control plane's HTTP API (apply, get, delete, proxy status) and its client for the CLI."""
