"""The immutable MeshSnapshot and the per-proxy ProxyView translation reads."""
