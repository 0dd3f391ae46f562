"""Security filters of a proxy's own HTTP and TCP chains: RBAC (AuthorizationPolicy) and
jwt_authn (RequestAuthentication), for the policies selecting the proxy's workload.

HTTP order is istiod's: CUSTOM (shadow RBAC + ext_authz) → ``jwt_authn`` → AUDIT → DENY → ALLOW,
all in front of the caller's fault/CORS/router filters; so CUSTOM runs before JWT validation.
TCP chains get CUSTOM (gRPC providers only) then AUDIT, DENY, ALLOW network RBAC filters in front
of ``tcp_proxy``. The inbound chain builder (``xds.inbound``) calls these with the workload port
the chain serves; gateways call ``proxy_http_policy_filters`` for their HCMs. Authorization does
not depend on the port (``ports``/``destination.port`` are RBAC matches), so neither do these.

Reads: AuthorizationPolicy and RequestAuthentication (``snapshot.security``), MeshSnapshot.jwks.
"""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.security import authorization_policies_for, request_authentications_for
from mainsail.snapshot.view import ProxyView
from mainsail.xds.authz import http_custom_filters, http_rbac_filters, tcp_rbac_filters
from mainsail.xds.jwt import jwt_authn_filter


def proxy_http_policy_filters(snapshot: MeshSnapshot, view: ProxyView) -> list[hcm_pb2.HttpFilter]:
    """CUSTOM, jwt_authn, AUDIT/DENY/ALLOW for an HCM of this proxy (sidecar or gateway)."""
    node = view.node
    labels = node.label_map
    policies = authorization_policies_for(snapshot, node.namespace, labels)
    filters = http_custom_filters(snapshot, policies)
    jwt = jwt_authn_filter(
        request_authentications_for(snapshot, node.namespace, labels),
        snapshot.jwks,
        # Gateways re-pick the route after validation, so routes can match on claims.
        clear_route_cache=node.proxy_type != "sidecar",
    )
    if jwt is not None:
        filters.append(jwt)
    filters += http_rbac_filters(snapshot, policies)
    return filters


def inbound_http_policy_filters(
    snapshot: MeshSnapshot, view: ProxyView, port: int
) -> list[hcm_pb2.HttpFilter]:
    """HTTP filters (CUSTOM, jwt_authn, RBAC) for the inbound HCM serving workload ``port``."""
    del port  # same for every port; see the module docstring
    return proxy_http_policy_filters(snapshot, view)


def proxy_tcp_policy_filters(
    snapshot: MeshSnapshot, view: ProxyView
) -> list[listener_components_pb2.Filter]:
    """Network RBAC (and gRPC ext_authz) filters for a TCP chain of this proxy."""
    node = view.node
    return tcp_rbac_filters(
        snapshot, authorization_policies_for(snapshot, node.namespace, node.label_map)
    )


def inbound_tcp_policy_filters(
    snapshot: MeshSnapshot, view: ProxyView, port: int
) -> list[listener_components_pb2.Filter]:
    """Network RBAC (and gRPC ext_authz) filters for the inbound TCP chain serving ``port``."""
    del port
    return proxy_tcp_policy_filters(snapshot, view)
