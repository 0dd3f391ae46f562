"""The gRPC face of the CA: Istio's ``istio.v1.auth.IstioCertificateService``. Errors map to
status codes here and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

import grpc

from mainsail.ca.errors import InvalidRequest, PermissionDenied, RequestRefused, Unauthenticated
from mainsail.ca.proto import ca_pb2, ca_pb2_grpc
from mainsail.ca.service import CertificateAuthority

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[RequestRefused], grpc.StatusCode], ...] = (
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
)


def status_of(error: RequestRefused) -> grpc.StatusCode:
    for kind, code in _STATUS:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.PERMISSION_DENIED


class CertificateServicer(ca_pb2_grpc.IstioCertificateServiceServicer):  # type: ignore[misc]
    def __init__(self, authority: CertificateAuthority) -> None:
        self._authority = authority

    async def CreateCertificate(
        self, request: ca_pb2.IstioCertificateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ca_pb2.IstioCertificateResponse:
        metadata = tuple((key, value) for key, value in context.invocation_metadata() or ())
        try:
            chain = self._authority.create_certificate(
                metadata, request.csr, request.validity_duration
            )
        except RequestRefused as exc:
            await context.abort(status_of(exc), str(exc))
            raise  # abort raises; this keeps the type checker sure nothing falls through
        except Exception:
            log.exception("CreateCertificate failed inside the CA")
            await context.abort(grpc.StatusCode.INTERNAL, "the CA failed to sign; see its log")
            raise
        return ca_pb2.IstioCertificateResponse(cert_chain=list(chain))


def add_to_server(authority: CertificateAuthority, server: grpc.aio.Server) -> None:
    ca_pb2_grpc.add_IstioCertificateServiceServicer_to_server(
        CertificateServicer(authority), server
    )
