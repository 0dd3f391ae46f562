"""Errors of the node agent.

AgentError
├── PodFileError        a pod file cannot be read as a ProxyWorkload (the pod is skipped, logged)
├── EnvoyStartError     the Envoy binary could not be started
├── SdsError            the pod's SDS server cannot serve (socket cannot be bound)
└── SvidError           a certificate for the pod cannot be had (retried with back-off, logged)
    ├── CaUnreachable   the CA did not answer (the current certificate keeps being served)
    │   └── CaUntrusted the CA's TLS certificate is not the control plane's (wrong SAN, root)
    └── CsrRefused      the CA answered and refused the CSR (wrong identity, bad token)
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by ``mainsail.agent``."""


class PodFileError(AgentError):
    pass


class EnvoyStartError(AgentError):
    pass


class SdsError(AgentError):
    pass


class SvidError(AgentError):
    """The CA's answer does not fit our CSR, the token is missing, or one of the subclasses."""


class CaUnreachable(SvidError):
    pass


class CaUntrusted(CaUnreachable):
    """Logged as an error: someone must fix the address, the root file or the SAN."""


class CsrRefused(SvidError):
    pass
