"""Pilot's translation: pure functions (MeshSnapshot, ProxyView) → Envoy resources."""
