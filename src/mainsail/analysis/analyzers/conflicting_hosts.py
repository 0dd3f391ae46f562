"""virtualservice.ConflictingMeshGatewayHostsAnalyzer: two VirtualServices for one host.

On sidecars (``mesh``) two VirtualServices with the same host produce the same domain and all but
the oldest are dropped (reference §3.3): an error, IST0109, reported per export scope as istioctl
does. On a gateway they are concatenated oldest first into one virtual host, so a catch-all in
the first hides the second's routes: a warning (MSA0002).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mainsail.analysis.analyzer import Analyzer
from mainsail.analysis.bindings import MESH, bound_to, route_host
from mainsail.analysis.context import AnalysisContext
from mainsail.analysis.messages import (
    CONFLICTING_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    Message,
    quoted,
)
from mainsail.config.istio.virtual_service import VirtualService


def _scopes(vs: VirtualService) -> tuple[str, ...]:
    export_to = vs.spec.export_to
    if not export_to or "*" in export_to:
        return ("*",)
    return tuple(dict.fromkeys(vs.namespace if e == "." else e for e in export_to))


def _names(group: list[VirtualService]) -> str:
    return ",".join(sorted(f"{vs.namespace}/{vs.name}" for vs in group))


def _analyze(ctx: AnalysisContext) -> Iterator[Message]:
    mesh: defaultdict[tuple[str, str], list[VirtualService]] = defaultdict(list)
    gateways: defaultdict[tuple[str, str], list[VirtualService]] = defaultdict(list)
    for vs in ctx.of_kind(VirtualService):
        for target in bound_to(vs):
            for host in dict.fromkeys(route_host(vs, h, target, ctx.domain) for h in vs.spec.hosts):
                if target == MESH:
                    for scope in _scopes(vs):
                        mesh[(scope, host)].append(vs)
                else:
                    gateways[(target, host)].append(vs)
    reported: set[tuple[str, str, str]] = set()
    for (scope, host), group in mesh.items():
        if scope != "*":
            group = group + mesh.get(("*", host), [])
        if len(group) < 2:
            continue
        for vs in group:
            if vs.key in reported:
                continue
            reported.add(vs.key)
            yield ctx.message(
                CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                _names(group),
                f"{scope}/{host}",
                resource=vs,
                path="spec.hosts",
            )
    for (gateway, host), group in gateways.items():
        if len(group) < 2:
            continue
        for vs in group:
            yield ctx.message(
                CONFLICTING_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                _names(group),
                gateway,
                quoted(host),
                resource=vs,
                path="spec.hosts",
            )


ANALYZER = Analyzer(
    name="virtualservice.ConflictingMeshGatewayHostsAnalyzer",
    description="Checks if multiple virtual services bound to the mesh or to one gateway "
    "have conflicting hosts",
    run=_analyze,
)
