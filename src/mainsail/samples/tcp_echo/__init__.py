"""Istio's tcp-echo sample: a TCP server that echoes each line with a prefix."""
