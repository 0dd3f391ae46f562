"""Who is asking for a certificate: the ``Authenticator`` protocol and its local-mode
implementation, which verifies the platform's pod tokens (``tokens``).

Kubernetes mode adds another implementation of the same protocol that sends the bearer token
to the API server's TokenReview (audience ``istio-ca``) as istiod's ``KubeJWTAuthenticator``
does; it is not written yet.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.errors import Unauthenticated
from mainsail.ca.identity import SpiffeId
from mainsail.ca.tokens import PodTokenClaims, verify_pod_token

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
    """Local mode: the bearer token is a pod token signed with the platform's key.

    A token's signature is checked once: an agent presents the same token on every renewal
    and a burst of pods restarting presents many, and ES256 verification is the dearest step
    of a request. The expiry is still checked on every use.
    """

    def __init__(self, key: ec.EllipticCurvePublicKey, *, cache_size: int = 10_000) -> None:
        self._key = key
        self._verified: dict[str, PodTokenClaims] = {}
        self._cache_size = cache_size

    def authenticate(self, metadata: Metadata) -> CallerIdentity:
        claims = self._claims(bearer_token(metadata))
        return CallerIdentity(
            namespace=claims.namespace, service_account=claims.service_account, pod=claims.pod
        )

    def _claims(self, token: str) -> PodTokenClaims:
        now = time.time()
        claims = self._verified.get(token)
        if claims is not None:
            if now < claims.expires_at:
                return claims
            del self._verified[token]
        claims = verify_pod_token(token, self._key)
        if len(self._verified) >= self._cache_size:
            self._verified = {t: c for t, c in self._verified.items() if now < c.expires_at}
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
        self._verified[token] = claims
        return claims
