"""Which incoming headers a BookInfo service copies onto its outbound calls.

Envoy starts and reports the spans, but only the app can tie an inbound request to the outbound
calls it causes, so every service copies these headers through - as Istio's BookInfo does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

TRACE_HEADERS: tuple[str, ...] = (
    # Envoy's request id: access logs and consistent trace sampling key on it.
    "x-request-id",
    # Zipkin B3, multi- and single-header forms.
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    # Lightstep.
    "x-ot-span-context",
    # W3C Trace Context.
    "traceparent",
    "tracestate",
    # Datadog, Google Cloud Trace, gRPC binary context and SkyWalking.
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "sw8",
)

# Application headers that routing rules and policies match on further down the call chain.
APPLICATION_HEADERS: tuple[str, ...] = (
    "end-user",
    "user-agent",
    "cookie",
    "authorization",
    "jwt",
)

PROPAGATED_HEADERS: tuple[str, ...] = TRACE_HEADERS + APPLICATION_HEADERS


def forwarded_headers(
    incoming: Mapping[str, str], names: Iterable[str] = PROPAGATED_HEADERS
) -> dict[str, str]:
    """The subset of ``incoming`` (a case-insensitive mapping) named in ``names``."""
    return {name: incoming[name] for name in names if name in incoming}
