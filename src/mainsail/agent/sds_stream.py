"""One SDS stream as a sans-IO state machine: what Envoy asked for, what it holds, what to send.

Envoy asks for secrets by name on ``sds-grpc``: state of the world (``StreamSecrets``, what Envoy
uses for an ``api_config_source`` with ``api_type: GRPC``, as Istio configures it) or delta
(``DeltaSecrets``, ``api_type: DELTA_GRPC``). Istio's names are served: ``default`` (the pod's
certificate chain and key), ``ROOTCA`` (the trust bundle), and files a DestinationRule names
(``file-cert:<cert>~<key>``, ``file-root:<bundle>``; ``file_secrets``).

Rules, as istio-agent's SDS server:

- A request with the nonce of our last response is an ACK, or a NACK when it carries
  ``error_detail`` (logged with Envoy's message; the stream goes on). A request with an older
  nonce is stale and ignored.
- Nothing is sent for a name until there is an SVID (Envoy waits, its listeners warming).
- Unknown names are answered with nothing in state of the world (an empty answer would be a NACK
  for Envoy: "Missing SDS resources") and as ``removed_resources`` in delta; each is logged once.
- A request of another type than Secret is a client error: the stream ends with
  INVALID_ARGUMENT and a message naming the type (``SdsRequestError``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from mainsail import naming
from mainsail.agent.svid import Svid

log = logging.getLogger(__name__)

SERVED_SECRETS: tuple[str, ...] = (naming.WORKLOAD_SECRET, naming.ROOT_CA_SECRET)

# Protobuf messages are untyped for mypy.
Request = Any
Response = Any


class SdsRequestError(Exception):
    """A request no SDS server can answer; the message says what and which field."""


@dataclass(frozen=True, slots=True)
class PackedSecret:
    name: str
    version: str
    resource: Any  # google.protobuf.Any holding a Secret


def servable(name: str) -> bool:
    """Whether this agent serves a secret of that name (once it has it)."""
    return (
        name in SERVED_SECRETS
        or naming.parse_file_cert_secret(name) is not None
        or naming.parse_file_root_secret(name) is not None
    )


def build_secrets(svid: Svid, roots: tuple[str, ...] = ()) -> dict[str, PackedSecret]:
    """``default`` of an SVID and ``ROOTCA`` of ``roots`` (the SVID's own when empty), packed,
    versioned by content."""
    roots_pem = "".join(roots) or svid.roots_pem
    default = secret_pb2.Secret(
        name=naming.WORKLOAD_SECRET,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_bytes=svid.chain_pem.encode()),
            private_key=base_pb2.DataSource(inline_bytes=svid.key.encode()),
        ),
    )
    root = secret_pb2.Secret(
        name=naming.ROOT_CA_SECRET,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_bytes=roots_pem.encode()),
        ),
    )
    result: dict[str, PackedSecret] = {}
    for secret, content in ((default, svid.chain_pem + svid.key), (root, roots_pem)):
        packed = any_pb2.Any()
        packed.Pack(secret)
        version = hashlib.sha256(content.encode()).hexdigest()[:16]
        result[secret.name] = PackedSecret(secret.name, version, packed)
    return result


class SdsStream:
    """What one stream has asked for and been sent. ``delta`` picks the protocol."""

    def __init__(self, pod: str, *, delta: bool) -> None:
        self.pod = pod
        self.delta = delta
        self.names: frozenset[str] = frozenset()
        self._sent: dict[str, str] = {}  # name -> version last sent
        self._removed_sent: set[str] = set()
        self._nonce = 0
        self._last_nonce = ""
        self._warned: set[str] = set()
        self.acks = 0
        self.nacks: list[str] = []

    # --- requests

    def receive(self, request: Request) -> bool:
        """Take one request; True when the subscription changed (a response may be due)."""
        type_url = request.type_url
        if type_url and type_url != naming.SECRET_TYPE:
            raise SdsRequestError(
                f"SDS request of pod {self.pod}: type_url {type_url!r} is not {naming.SECRET_TYPE!r}"
            )
        nonce = request.response_nonce
        if nonce and nonce != self._last_nonce:
            return False  # stale: Envoy answers an older response; the newer one is in flight
        if nonce and request.HasField("error_detail"):
            message = request.error_detail.message
            self.nacks.append(message)
            log.warning("sds: %s rejected secrets (nonce %s): %s", self.pod, nonce, message)
        elif nonce:
            self.acks += 1
        if self.delta:
            return self._receive_delta(request)
        names = frozenset(request.resource_names)
        if not names and not nonce:
            # A wildcard SotW subscription: Envoy never sends one for SDS; serve both names.
            names = frozenset(SERVED_SECRETS)
        changed = names != self.names
        if changed:
            self.names = names
            self._sent = {n: v for n, v in self._sent.items() if n in names}
            self._warn_unknown(names)
        return changed

    def _receive_delta(self, request: Request) -> bool:
        subscribe = set(request.resource_names_subscribe)
        unsubscribe = set(request.resource_names_unsubscribe)
        if not request.response_nonce:
            # The first request (or a reconnect): Envoy says which versions it already holds.
            self._sent = dict(request.initial_resource_versions)
        names = (self.names | subscribe) - unsubscribe
        changed = names != self.names
        for name in unsubscribe:
            self._sent.pop(name, None)
            self._removed_sent.discard(name)
        self.names = frozenset(names)
        self._warn_unknown(subscribe)
        return changed

    def _warn_unknown(self, names: frozenset[str] | set[str]) -> None:
        for name in sorted(n for n in set(names) - self._warned if not servable(n)):
            self._warned.add(name)
            log.warning(
                "sds: %s asked for secret %r, which this agent does not serve (only %s, "
                "file-cert:<cert>~<key> and file-root:<bundle>)",
                self.pod,
                name,
                ", ".join(SERVED_SECRETS),
            )

    # --- responses

    def response(self, secrets: dict[str, PackedSecret] | None) -> Response | None:
        """The response that brings Envoy up to date with ``secrets``, or None."""
        known = {} if secrets is None else {n: secrets[n] for n in self.names if n in secrets}
        unknown = sorted(n for n in self.names if not servable(n))
        if self.delta:
            return self._delta_response(known, unknown)
        if not known or all(self._sent.get(n) == s.version for n, s in known.items()):
            return None
        self._sent = {n: s.version for n, s in known.items()}
        ordered = [known[n] for n in sorted(known)]
        version = hashlib.sha256(
            "".join(f"{s.name}={s.version};" for s in ordered).encode()
        ).hexdigest()[:16]
        return discovery_pb2.DiscoveryResponse(
            version_info=version,
            type_url=naming.SECRET_TYPE,
            resources=[s.resource for s in ordered],
            nonce=self._next_nonce(),
        )

    def _delta_response(
        self, known: dict[str, PackedSecret], unknown: list[str]
    ) -> Response | None:
        changed = [known[n] for n in sorted(known) if self._sent.get(n) != known[n].version]
        removed = [n for n in unknown if n not in self._removed_sent]
        if not changed and not removed:
            return None
        for secret in changed:
            self._sent[secret.name] = secret.version
        self._removed_sent.update(removed)
        return discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=";".join(f"{s.name}={s.version}" for s in changed),
            type_url=naming.SECRET_TYPE,
            resources=[
                discovery_pb2.Resource(name=s.name, version=s.version, resource=s.resource)
                for s in changed
            ],
            removed_resources=removed,
            nonce=self._next_nonce(),
        )

    def _next_nonce(self) -> str:
        self._nonce += 1
        self._last_nonce = str(self._nonce)
        return self._last_nonce


def decode_secret(resource: Any) -> Any:
    """The ``Secret`` inside a packed resource (tests and tools)."""
    secret = secret_pb2.Secret()
    resource.Unpack(secret)
    return secret
