"""Mixer's attribute vocabulary (the ``istioproxy`` and ``kubernetes`` attribute manifests) with
each attribute's value type, as Mixer's type checker saw them.

The book's logentry example also uses the 0.x names ``source.service``, ``destination.service``
and ``source.user``; Mixer kept them in its manifests as deprecated strings, so they are here.
"""

from __future__ import annotations

from enum import Enum


class ValueType(Enum):
    """Mixer's ``ValueType`` (``policy/v1beta1/value_type.proto``)."""

    STRING = "STRING"
    INT64 = "INT64"
    DOUBLE = "DOUBLE"
    BOOL = "BOOL"
    TIMESTAMP = "TIMESTAMP"
    DURATION = "DURATION"
    IP_ADDRESS = "IP_ADDRESS"
    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    DNS_NAME = "DNS_NAME"
    URI = "URI"
    STRING_MAP = "STRING_MAP"


_S, _I, _B = ValueType.STRING, ValueType.INT64, ValueType.BOOL
_T, _D, _IP, _M = (
    ValueType.TIMESTAMP,
    ValueType.DURATION,
    ValueType.IP_ADDRESS,
    ValueType.STRING_MAP,
)


def _workload_side(prefix: str) -> dict[str, ValueType]:
    return {
        f"{prefix}.uid": _S,
        f"{prefix}.ip": _IP,
        f"{prefix}.labels": _M,
        f"{prefix}.name": _S,
        f"{prefix}.namespace": _S,
        f"{prefix}.principal": _S,
        f"{prefix}.owner": _S,
        f"{prefix}.serviceAccount": _S,
        f"{prefix}.workload.uid": _S,
        f"{prefix}.workload.name": _S,
        f"{prefix}.workload.namespace": _S,
        f"{prefix}.service": _S,  # 0.x, deprecated
        f"{prefix}.user": _S,  # 0.x, deprecated (source.principal)
    }


ATTRIBUTES: dict[str, ValueType] = {
    **_workload_side("source"),
    **_workload_side("destination"),
    "destination.port": _I,
    "destination.container.name": _S,
    "destination.service.host": _S,
    "destination.service.uid": _S,
    "destination.service.name": _S,
    "destination.service.namespace": _S,
    "request.headers": _M,
    "request.id": _S,
    "request.host": _S,
    "request.method": _S,
    "request.path": _S,
    "request.url_path": _S,
    "request.query_params": _M,
    "request.scheme": _S,
    "request.size": _I,
    "request.total_size": _I,
    "request.time": _T,
    "request.useragent": _S,
    "request.referer": _S,
    "request.reason": _S,
    "request.auth.principal": _S,
    "request.auth.audiences": _S,
    "request.auth.presenter": _S,
    "request.auth.claims": _M,
    "request.auth.raw_claims": _S,
    "request.api_key": _S,
    "response.code": _I,
    "response.duration": _D,
    "response.headers": _M,
    "response.size": _I,
    "response.total_size": _I,
    "response.time": _T,
    "response.grpc_status": _S,
    "response.grpc_message": _S,
    "connection.id": _S,
    "connection.event": _S,
    "connection.mtls": _B,
    "connection.requested_server_name": _S,
    "connection.received.bytes": _I,
    "connection.received.bytes_total": _I,
    "connection.sent.bytes": _I,
    "connection.sent.bytes_total": _I,
    "connection.duration": _D,
    "context.protocol": _S,
    "context.reporter.kind": _S,
    "context.reporter.uid": _S,
    "context.proxy_error_code": _S,
    "context.time": _T,
    "api.service": _S,
    "api.version": _S,
    "api.operation": _S,
    "api.protocol": _S,
    "check.error_code": _I,
    "check.error_message": _S,
    "check.cache_hit": _B,
    "quota.cache_hit": _B,
}
