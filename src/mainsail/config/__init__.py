"""Galley: Istio and Kubernetes-style config as typed frozen models, parsed and validated.

Errors tree: see ``mainsail.config.errors``.
"""
