"""An SDS server for the golden acceptance test that serves *every* secret name a proxy asks for
(the workload's ``default``/``ROOTCA`` as well as a DestinationRule's ``file-cert:``/
``file-root:`` and ``kubernetes://`` names): certificates made here, so that every TLS cluster
and listener of every golden case leaves warming and the push completes."""

from __future__ import annotations

import contextlib
import datetime
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc
from google.protobuf import any_pb2

from mainsail import naming


def _pem_pair() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "golden")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _is_trust_bundle(name: str) -> bool:
    return (
        name == naming.ROOT_CA_SECRET or name.startswith("file-root:") or name.endswith("-cacert")
    )


class AnySecretSds(sds_pb2_grpc.SecretDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._cert, self._key = _pem_pair()
        self._nonces = itertools.count(1)

    def secret(self, name: str) -> Any:
        packed = any_pb2.Any()
        if _is_trust_bundle(name):
            secret = secret_pb2.Secret(
                name=name,
                validation_context=common_pb2.CertificateValidationContext(
                    trusted_ca={"inline_bytes": self._cert}
                ),
            )
        else:
            secret = secret_pb2.Secret(
                name=name,
                tls_certificate=common_pb2.TlsCertificate(
                    certificate_chain={"inline_bytes": self._cert},
                    private_key={"inline_bytes": self._key},
                ),
            )
        packed.Pack(secret)
        return packed

    async def StreamSecrets(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        served: frozenset[str] = frozenset()
        async for request in requests:
            names = frozenset(request.resource_names)
            if names == served:
                continue  # an ACK (or NACK) of what we sent
            served = names
            nonce = str(next(self._nonces))
            yield discovery_pb2.DiscoveryResponse(
                version_info=nonce,
                nonce=nonce,
                type_url=naming.SECRET_TYPE,
                resources=[self.secret(n) for n in sorted(names)],
            )


@contextlib.asynccontextmanager
async def any_secret_sds(socket: Path) -> AsyncIterator[None]:
    server = grpc.aio.server()
    sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(AnySecretSds(), server)
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    try:
        yield
    finally:
        await server.stop(0.5)
