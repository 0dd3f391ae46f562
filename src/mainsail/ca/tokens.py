"""Pod tokens of the local platform: ES256 JWTs shaped like Kubernetes projected
service-account tokens (audience ``istio-ca``), which the CA's authenticator verifies.

The platform mints one per pod with the key the CA created under its state directory; the
node agent presents it as ``authorization: Bearer <token>`` exactly as istio-agent presents
``/var/run/secrets/tokens/istio-token``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.errors import CaStateError, Unauthenticated
from mainsail.ca.layout import write_private
from mainsail.ca.pki import key_pem, new_p256_key

ISSUER = "mainsail"
AUDIENCE = "istio-ca"
ALGORITHM = "ES256"
_SUBJECT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True, kw_only=True)
class PodTokenClaims:
    namespace: str
    service_account: str
    pod: str
    expires_at: float


def ensure_signing_key(path: Path) -> None:
    """Create the token-signing key (P-256, mode 0600) unless it exists."""
    if not path.exists():
        write_private(path, key_pem(new_p256_key()))


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CaStateError(
            f"token-signing key {path} does not exist: the CA creates it when it first starts "
            "(start the control plane before minting pod tokens)"
        ) from exc
    except OSError as exc:
        raise CaStateError(f"token-signing key {path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, TypeError) as exc:
        raise CaStateError(f"token-signing key {path}: not a PEM private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CaStateError(f"token-signing key {path}: want an ECDSA P-256 key for ES256")
    return key


def verification_key(path: Path) -> ec.EllipticCurvePublicKey:
    return _private_key(path).public_key()


def mint_pod_token(
    key_path: Path,
    namespace: str,
    service_account: str,
    pod: str,
    ttl: float,
    *,
    issued_at: float | None = None,
) -> str:
    """A token for ``pod`` running as ``namespace``/``service_account``, valid ``ttl`` seconds."""
    for field, value in (("namespace", namespace), ("service account", service_account)):
        if not value or ":" in value or "/" in value:
            raise ValueError(f"pod token: {field} {value!r} is not a Kubernetes name")
    now = time.time() if issued_at is None else issued_at
    claims = {
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": f"{_SUBJECT_PREFIX}{namespace}:{service_account}",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + ttl),
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": pod},
            "serviceaccount": {"name": service_account},
        },
    }
    return jwt.encode(claims, _private_key(key_path), algorithm=ALGORITHM)


def verify_pod_token(token: str, key: ec.EllipticCurvePublicKey) -> PodTokenClaims:
    """The claims of a valid token; ``Unauthenticated`` says why a token is not."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("the bearer token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"the bearer token is invalid: {exc}") from exc
    subject = str(claims["sub"])
    namespace, sep, account = subject.removeprefix(_SUBJECT_PREFIX).partition(":")
    if not subject.startswith(_SUBJECT_PREFIX) or not sep or not namespace or not account:
        raise Unauthenticated(
            f"the bearer token's subject {subject!r} is not system:serviceaccount:<ns>:<sa>"
        )
    kube = claims.get("kubernetes.io")
    pod = ""
    if isinstance(kube, dict):
        if kube.get("namespace", namespace) != namespace:
            raise Unauthenticated(
                f"the bearer token's kubernetes.io namespace {kube.get('namespace')!r} "
                f"contradicts its subject {subject!r}"
            )
        pod_claim = kube.get("pod")
        if isinstance(pod_claim, dict):
            pod = str(pod_claim.get("name", ""))
    return PodTokenClaims(
        namespace=namespace,
        service_account=account,
        pod=pod,
        expires_at=float(claims["exp"]),
    )
