"""Security filters for inbound chains: RBAC (AuthorizationPolicy) and jwt_authn (RequestAuthentication).

The inbound chain builder (xds/inbound.py) calls these with the workload port the chain serves; the
result goes in front of the router (HTTP) or the tcp_proxy (TCP).
"""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from mainsail.snapshot.mesh_snapshot import MeshSnapshot
from mainsail.snapshot.view import ProxyView


def inbound_http_policy_filters(
    snapshot: MeshSnapshot, view: ProxyView, port: int
) -> list[hcm_pb2.HttpFilter]:
    """HTTP filters (jwt_authn, RBAC) for the inbound HCM serving workload ``port``."""
    del snapshot, view, port
    return []


def inbound_tcp_policy_filters(
    snapshot: MeshSnapshot, view: ProxyView, port: int
) -> list[listener_components_pb2.Filter]:
    """Network RBAC filters for the inbound TCP chain serving workload ``port``."""
    del snapshot, view, port
    return []
