"""Every destination a VirtualService sends traffic to, with its field path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mainsail.config.istio.virtual_service import Destination, VirtualService
from mainsail.config.istio.virtual_service import RouteDestination as L4Destination


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDestination:
    """A route (http/tcp/tls) or mirror destination; ``path`` is its wire field path."""

    destination: Destination
    path: str
    mirror: bool = False


def route_destinations(vs: VirtualService) -> Iterator[RouteDestination]:
    spec = vs.spec
    for i, http in enumerate(spec.http):
        for j, weighted in enumerate(http.route):
            path = f"spec.http[{i}].route[{j}].destination"
            yield RouteDestination(destination=weighted.destination, path=path)
        if http.mirror is not None:
            yield RouteDestination(
                destination=http.mirror, path=f"spec.http[{i}].mirror", mirror=True
            )
        for j, policy in enumerate(http.mirrors):
            path = f"spec.http[{i}].mirrors[{j}].destination"
            yield RouteDestination(destination=policy.destination, path=path, mirror=True)
    l4: list[tuple[str, int, tuple[L4Destination, ...]]] = [
        *(("tcp", i, r.route) for i, r in enumerate(spec.tcp)),
        *(("tls", i, r.route) for i, r in enumerate(spec.tls)),
    ]
    for kind, i, weighted_destinations in l4:
        for j, l4_weighted in enumerate(weighted_destinations):
            path = f"spec.{kind}[{i}].route[{j}].destination"
            yield RouteDestination(destination=l4_weighted.destination, path=path)
