"""Who is asking for a certificate: the ``Authenticator`` protocol and its local-mode
implementation, which verifies the platform's pod tokens (``tokens``).

Kubernetes mode adds another implementation of the same protocol that sends the bearer token
to the API server's TokenReview (audience ``istio-ca``) as istiod's ``KubeJWTAuthenticator``
does; it is not written yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.errors import Unauthenticated
from mainsail.ca.identity import SpiffeId
from mainsail.ca.tokens import verify_pod_token

Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerIdentity:
    """An authenticated caller: the Kubernetes service account it runs as."""

    namespace: str
    service_account: str
    pod: str = ""

    def spiffe_id(self, trust_domain: str) -> SpiffeId:
        return SpiffeId(
            trust_domain=trust_domain,
            namespace=self.namespace,
            service_account=self.service_account,
        )

    def __str__(self) -> str:
        who = f"{self.namespace}/{self.service_account}"
        return f"pod {self.namespace}/{self.pod} ({who})" if self.pod else who


class Authenticator(Protocol):
    def authenticate(self, metadata: Metadata) -> CallerIdentity:
        """The caller of a request with this gRPC metadata; raises ``Unauthenticated``."""
        ...


def bearer_token(metadata: Metadata) -> str:
    """The token of ``authorization: Bearer <token>``; ``Unauthenticated`` if absent."""
    values = [v for k, v in metadata if k.lower() == "authorization"]
    if not values:
        raise Unauthenticated("no 'authorization: Bearer <token>' in the request metadata")
    if len(values) > 1:
        raise Unauthenticated("more than one 'authorization' entry in the request metadata")
    value = values[0]
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the 'authorization' metadata is not 'Bearer <token>'")
    return token.strip()


class PodTokenAuthenticator:
    """Local mode: the bearer token is a pod token signed with the platform's key."""

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    def authenticate(self, metadata: Metadata) -> CallerIdentity:
        claims = verify_pod_token(bearer_token(metadata), self._key)
        return CallerIdentity(
            namespace=claims.namespace, service_account=claims.service_account, pod=claims.pod
        )
