"""Shipped, typed test doubles and helpers (fake clock, free ports, a real Envoy process)."""
