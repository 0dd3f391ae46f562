"""virtualservice.GatewayAnalyzer: the Gateways a VirtualService binds to exist and share a host.

A VirtualService is considered for a gateway server only when one of its hosts intersects the
server's hosts (reference §3.6); a server host ``ns/host`` admits only VirtualServices of
namespace ``ns`` (``.`` the gateway's own, ``*`` any).
"""

from __future__ import annotations

from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    REFERENCED_RESOURCE_NOT_FOUND,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    Message,
    go_list,
    quoted,
)
from mainsail.config.istio.gateway import Gateway
from mainsail.config.istio.virtual_service import VirtualService
from mainsail.snapshot.hosts import hosts_intersect, resolve_gateway_name


def server_hosts_for(gateway: Gateway, vs_namespace: str) -> list[str]:
    """The gateway's server hosts a VirtualService in ``vs_namespace`` may bind to."""
    found: list[str] = []
    for server in gateway.spec.servers:
        for host in server.hosts:
            namespace, slash, name = host.rpartition("/")
            if not slash:
                found.append(host)
                continue
            namespace = gateway.namespace if namespace == "." else namespace
            if namespace in ("*", vs_namespace):
                found.append(name)
    return found


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    for vs in ctx.of_kind(VirtualService):
        for index, reference in enumerate(vs.spec.gateways):
            if reference == "mesh":
                continue
            namespace, _, name = resolve_gateway_name(reference, vs.namespace).partition("/")
            gateway = ctx.snapshot.gateway(namespace, name)
            path = f"spec.gateways[{index}]"
            if gateway is None:
                yield ctx.message(
                    REFERENCED_RESOURCE_NOT_FOUND,
                    "gateway",
                    quoted(reference),
                    resource=vs,
                    path=path,
                )
                continue
            allowed = server_hosts_for(gateway, vs.namespace)
            if not vs.spec.hosts or any(
                hosts_intersect(g, h) for g in allowed for h in vs.spec.hosts
            ):
                continue
            yield ctx.message(
                VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
                go_list(vs.spec.hosts),
                f"{vs.namespace}/{vs.name}",
                f"{namespace}/{name}",
                resource=vs,
                path=path,
            )


ANALYZER = Analyzer(
    name="virtualservice.GatewayAnalyzer",
    description="Checks the gateways associated with each virtual service",
    run=_analyze,
)
