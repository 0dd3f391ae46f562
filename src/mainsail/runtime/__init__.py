"""Composition roots: the only place that wires processes together."""
