"""What can go wrong in the mesh CA. One tree; ``server`` maps it to gRPC status codes.

::

    CaError
    ├── CaStateError            the CA's own material is unusable (files missing, key/cert
    │                           mismatch, a chain that does not verify): the CA does not start
    ├── RequestRefused          a CSR is refused; nothing is issued
    │   ├── Unauthenticated     no/invalid/expired bearer token          -> UNAUTHENTICATED
    │   ├── PermissionDenied    caller may not receive the identity,     -> PERMISSION_DENIED
    │   │                       or the identity is revoked
    │   └── InvalidRequest      malformed CSR, wrong key type, not       -> INVALID_ARGUMENT
    │                           exactly one SPIFFE URI SAN
    └── ClientError             raised by ``client.request_certificate``
        ├── CaUnavailable       the CA could not be reached (or failed internally)
        │   └── CaUntrusted     its TLS certificate is not the control plane's (wrong SAN,
        │                       another root): says which issuer and SANs it has
        └── CaRefused           the CA answered with a refusal (its status and message)
"""

from __future__ import annotations


class CaError(Exception):
    """Base of every mesh-CA error."""


class CaStateError(CaError):
    """The CA's keys, certificates or state directory are unusable; says which file and why."""


class RequestRefused(CaError):
    """A certificate request is refused; the message says who asked for what and why."""


class Unauthenticated(RequestRefused):
    """The caller could not be authenticated (missing, malformed, forged or expired token)."""


class PermissionDenied(RequestRefused):
    """The authenticated caller may not receive the requested identity."""


class InvalidRequest(RequestRefused):
    """The CSR itself is unacceptable (unparsable, bad signature, key type, SANs)."""


class ClientError(CaError):
    """A certificate request made with ``client.request_certificate`` failed."""


class CaUnavailable(ClientError):
    """The CA could not be reached, timed out, or failed internally; worth retrying."""


class CaUntrusted(CaUnavailable):
    """The CA's TLS certificate failed verification (another root, not the expected SAN)."""


class CaRefused(ClientError):
    """The CA refused the request; retrying the same request will not help.

    ``code`` is the gRPC status name (``PERMISSION_DENIED``, ``UNAUTHENTICATED``,
    ``INVALID_ARGUMENT``); the message is the server's.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
