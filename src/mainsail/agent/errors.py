"""Errors of the node agent.

AgentError
├── PodFileError     a pod file cannot be read as a ProxyWorkload (the pod is skipped, logged)
└── EnvoyStartError  the Envoy binary could not be started
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by ``mainsail.agent``."""


class PodFileError(AgentError):
    pass


class EnvoyStartError(AgentError):
    pass
