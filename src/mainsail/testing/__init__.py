"""Shipped, typed test doubles and helpers (fake clock, free ports, waiting for conditions, ...)."""
