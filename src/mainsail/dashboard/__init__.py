"""The dashboard: a web app and JSON API served by the control plane (service graph, golden signals, config, proxies, traces)."""
