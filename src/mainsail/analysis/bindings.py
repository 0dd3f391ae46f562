"""Where a VirtualService applies: ``mesh`` (the sidecars) and/or named gateways (``ns/name``)."""

from __future__ import annotations

from mainsail.config.istio.virtual_service import VirtualService
from mainsail.snapshot.hosts import resolve_gateway_name, resolve_short_name

MESH = "mesh"


def bound_to(vs: VirtualService) -> tuple[str, ...]:
    """``mesh`` when no gateways are listed, else the listed ones resolved (``mesh`` kept)."""
    if not vs.spec.gateways:
        return (MESH,)
    return tuple(dict.fromkeys(resolve_gateway_name(g, vs.namespace) for g in vs.spec.gateways))


def route_host(vs: VirtualService, host: str, target: str, domain: str) -> str:
    """The host as the target matches it: sidecars resolve short names, gateways do not."""
    return resolve_short_name(host, vs.namespace, domain) if target == MESH else host.lower()
