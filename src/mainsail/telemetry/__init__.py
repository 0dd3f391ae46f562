"""Istio's standard metrics read back: Prometheus text parsing and golden-signal arithmetic.

Pure (no I/O): ``mainsail stat`` and the dashboard's metrics window both import it.
"""
