"""VirtualService delegation: a root route ``delegate: {name, namespace}`` becomes the delegate's
routes (Istio's ``mergeVirtualServicesIfNeeded`` / ``mergeHTTPRoute``).

Each delegate route keeps its own matches ANDed with the root route's (a delegate match must sit
inside one of the root matches, else it conflicts and the route is dropped) and inherits the
root's rewrite, timeout, retries, fault, mirror, CORS policy and headers when it sets none. A
delegate (a VirtualService without hosts) never routes on its own; it must be exported to the
root's namespace. Delegate destinations are resolved in the delegate's namespace before merging.
One level only, as in Istio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mainsail.config.istio.virtual_service import (
    Destination,
    HTTPMatchRequest,
    HTTPRoute,
    StringMatch,
    VirtualService,
)
from mainsail.snapshot.hosts import resolve_short_name

_INHERITED = (
    "rewrite",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirror_percent",
    "mirror_percentage",
    "cors_policy",
    "headers",
)


def is_delegate(vs: VirtualService) -> bool:
    return not vs.spec.hosts


def merge_delegates(
    virtual_services: Iterable[VirtualService], domain: str
) -> tuple[VirtualService, ...]:
    """Root VirtualServices with their delegates merged in; delegates left out; others as is."""
    items = list(virtual_services)
    delegates = {(vs.namespace, vs.name): vs for vs in items if is_delegate(vs)}
    merged: list[VirtualService] = []
    for vs in items:
        if is_delegate(vs):
            continue
        if not any(route.delegate is not None for route in vs.spec.http):
            merged.append(vs)
            continue
        routes: list[HTTPRoute] = []
        for route in vs.spec.http:
            if route.delegate is None:
                routes.append(route)
                continue
            namespace = route.delegate.namespace or vs.namespace
            delegate = delegates.get((namespace, route.delegate.name or ""))
            if delegate is None or not _exported_to(delegate, vs.namespace):
                continue  # Istio drops only this route
            for child in delegate.spec.http:
                if child.delegate is not None:
                    continue  # no nested delegation
                found = merge_http_route(route, _resolved(child, delegate.namespace, domain))
                if found is not None:
                    routes.append(found)
        merged.append(vs.model_copy(update={"spec": vs.spec.model_copy(update={"http": routes})}))
    return tuple(merged)


def _exported_to(delegate: VirtualService, namespace: str) -> bool:
    export_to = set(delegate.spec.export_to or ("*",))
    return (
        "*" in export_to
        or namespace in export_to
        or ("." in export_to and delegate.namespace == namespace)
    )


def _resolved(route: HTTPRoute, namespace: str, domain: str) -> HTTPRoute:
    """Short destination and mirror hosts resolved in the delegate's own namespace."""

    def fix(destination: Destination) -> Destination:
        host = resolve_short_name(destination.host, namespace, domain)
        return destination.model_copy(update={"host": host})

    update: dict[str, object] = {
        "route": tuple(
            d.model_copy(update={"destination": fix(d.destination)}) for d in route.route
        ),
        "mirrors": tuple(
            m.model_copy(update={"destination": fix(m.destination)}) for m in route.mirrors
        ),
    }
    if route.mirror is not None:
        update["mirror"] = fix(route.mirror)
    return route.model_copy(update=update)


def merge_http_route(root: HTTPRoute, delegate: HTTPRoute) -> HTTPRoute | None:
    """``mergeHTTPRoute``: the delegate route under the root one, or None on a match conflict."""
    matches = _merge_matches(root.match, delegate.match)
    if matches is None:
        return None
    update: dict[str, object] = {"match": matches, "delegate": None}
    if not delegate.name:
        update["name"] = root.name
    elif root.name:
        update["name"] = f"{root.name}-{delegate.name}"
    for field in _INHERITED:
        if getattr(delegate, field) is None:
            update[field] = getattr(root, field)
    if not delegate.mirrors:
        update["mirrors"] = root.mirrors
    return delegate.model_copy(update=update)


def _merge_matches(
    root: tuple[HTTPMatchRequest, ...], delegate: tuple[HTTPMatchRequest, ...]
) -> tuple[HTTPMatchRequest, ...] | None:
    """Every delegate match ANDed with each root match it does not conflict with; None when a
    delegate match fits under no root match."""
    if not root:
        return delegate
    if not delegate:
        return root
    out: list[HTTPMatchRequest] = []
    for leaf in delegate:
        fitting = [_merge_match(r, leaf) for r in root if not _conflict(r, leaf)]
        if not fitting:
            return None
        out.extend(fitting)
    return tuple(out)


def _merge_match(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> HTTPMatchRequest:
    update: dict[str, object] = {}
    if not leaf.name:
        update["name"] = root.name
    elif root.name:
        update["name"] = f"{root.name}-{leaf.name}"
    for field in ("uri", "scheme", "method", "authority", "source_namespace", "stat_prefix"):
        if getattr(leaf, field) is None:
            update[field] = getattr(root, field)
    for field in ("headers", "without_headers", "query_params", "source_labels"):
        update[field] = {**getattr(root, field), **getattr(leaf, field)}
    if not leaf.port:
        update["port"] = root.port
    if not leaf.gateways:
        update["gateways"] = root.gateways
    return leaf.model_copy(update=update)


def _conflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> bool:
    for field in ("uri", "scheme", "method", "authority"):
        if _string_conflict(getattr(root, field), getattr(leaf, field)):
            return True
    if _map_conflict(root.headers, leaf.headers):
        return True
    if _map_conflict(root.without_headers, leaf.without_headers):
        return True
    if _map_conflict(root.query_params, leaf.query_params):
        return True
    if bool(root.ignore_uri_case) != bool(leaf.ignore_uri_case):
        return True
    if root.port and leaf.port and root.port != leaf.port:
        return True
    if root.source_namespace and leaf.source_namespace != root.source_namespace:
        return True
    if any(root.source_labels.get(k, v) != v for k, v in leaf.source_labels.items()):
        return True
    # The root's gateways must include the leaf's.
    return bool(root.gateways and leaf.gateways and not set(leaf.gateways) <= set(root.gateways))


def _map_conflict(root: Mapping[str, StringMatch], leaf: Mapping[str, StringMatch]) -> bool:
    return any(_string_conflict(root.get(k), v) for k, v in leaf.items())


def _string_conflict(root: StringMatch | None, leaf: StringMatch | None) -> bool:
    """``stringMatchConflict``: the leaf must be as narrow as the root; regexes always conflict."""
    if root is None or leaf is None:
        return False
    if root.regex or leaf.regex:
        return True
    if root.exact:
        return bool(leaf.prefix) or leaf.exact != root.exact
    if root.prefix:
        if leaf.prefix:
            return not leaf.prefix.startswith(root.prefix)
        if leaf.exact:
            return not leaf.exact.startswith(root.prefix)
    return True
