"""Asking the mesh CA for a certificate, as istio-agent does: ``CreateCertificate`` with the
pod's token as ``authorization: Bearer``.

Refusals (the CA said no: wrong identity, revoked, bad token, bad CSR) raise ``CaRefused``
with the server's message; everything else (unreachable, timeout, internal failure, a
malformed answer) raises ``CaUnavailable``, which is worth retrying with back-off.
"""

from __future__ import annotations

import grpc

from mainsail.ca.errors import CaRefused, CaUnavailable, CaUntrusted
from mainsail.ca.proto import ca_pb2, ca_pb2_grpc
from mainsail.ca.server_check import untrusted_reason

METHOD = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

# Status codes that say "not now" rather than "no".
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


async def request_certificate(
    target: str,
    csr_pem: str,
    ttl_seconds: int,
    token: str,
    *,
    root_pem: str | None = None,
    server_name: str | None = None,
    timeout: float = 10.0,
) -> tuple[str, ...]:
    """The CA's chain for ``csr_pem``: the leaf first, then any intermediate CA certificates,
    the trust bundle (one or more root PEMs in one string) last.

    ``target`` is ``host:port``; with ``root_pem`` the channel is TLS verified against it and
    the server's certificate must carry ``server_name`` (Istio's ``ISTIOD_SAN``; default: the
    target's host), else plaintext (the control plane's 15010, like istiod's). A server whose
    certificate is not trusted raises ``CaUntrusted`` naming its issuer and SANs.
    """
    # A subchannel of its own: in gRPC's process-wide pool a subchannel still referenced (by a
    # failed call the caller's error keeps) is shared with the next channel together with its
    # reconnect back-off, so a CA that is back stays "connection refused" for up to 2 minutes.
    options: list[tuple[str, str | int]] = [("grpc.use_local_subchannel_pool", 1)]
    if root_pem is not None and server_name:
        # The name gRPC checks the certificate against (and sends as SNI), as ISTIOD_SAN.
        options.append(("grpc.ssl_target_name_override", server_name))
    if root_pem is None:
        channel = grpc.aio.insecure_channel(target, options=options)
    else:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_pem.encode("ascii"))
        channel = grpc.aio.secure_channel(target, credentials, options=options)
    try:
        stub = ca_pb2_grpc.IstioCertificateServiceStub(channel)
        request = ca_pb2.IstioCertificateRequest(csr=csr_pem, validity_duration=ttl_seconds)
        try:
            response = await stub.CreateCertificate(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            details = exc.details() or ""
            if code == grpc.StatusCode.UNAVAILABLE and root_pem is not None:
                expected = server_name or target.rpartition(":")[0].strip("[]")
                reason = await untrusted_reason(target, root_pem, expected)
                if reason is not None:
                    raise CaUntrusted(f"CA at {target}: {reason}") from exc
            if code in _TRANSIENT:
                raise CaUnavailable(f"CA at {target}: {code.name}: {details}") from exc
            raise CaRefused(code.name, details) from exc
    finally:
        await channel.close(None)
    chain = tuple(response.cert_chain)
    if len(chain) < 2 or not all("-----BEGIN CERTIFICATE-----" in c for c in chain):
        raise CaUnavailable(
            f"CA at {target} answered a malformed chain ({len(chain)} elements): want the "
            "leaf first and the root last"
        )
    return chain
