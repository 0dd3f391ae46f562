"""Envoy ``Node`` (id + metadata) → ``ProxyNode``, with Istio's metadata keys.

Only metadata that translation may read becomes part of ``ProxyNode`` (it is the generator's
cache key; anything else would split the cache per proxy for nothing).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, Final

from envoy.config.core.v3 import base_pb2
from google.protobuf import json_format

from mainsail import naming
from mainsail.ads.errors import InvalidNodeError
from mainsail.snapshot.proxy import InterceptionMode, ProxyNode

INTERCEPTION_MODES: Final[tuple[InterceptionMode, ...]] = ("REDIRECT", "TPROXY", "NONE")
# Plain string metadata kept in ProxyNode.extra (translation may read them).
EXTRA_KEYS: Final[tuple[str, ...]] = (
    "CLUSTER_ID",
    "MESH_ID",
    "NETWORK",
    "ISTIO_VERSION",
    "ENVOY_STATUS_PORT",
    "ENVOY_PROMETHEUS_PORT",
    "MAINSAIL_ADMIN_PORT",
    "MAINSAIL_AGENT_PORT",
    "MAINSAIL_ACCESS_LOG",
)


def proxy_node_from_envoy(node: base_pb2.Node) -> ProxyNode:
    """Raises ``InvalidNodeError`` naming the offending field."""
    if not node.id:
        raise InvalidNodeError("node.id", "missing")
    try:
        node_id = naming.parse_node_id(node.id)
    except ValueError as e:
        raise InvalidNodeError("node.id", str(e)) from None
    meta: Mapping[str, Any] = json_format.MessageToDict(node.metadata)

    namespace = _string(meta, "NAMESPACE") or node_id.namespace
    if namespace != node_id.namespace:
        raise InvalidNodeError(
            "node.metadata.NAMESPACE",
            f"{namespace!r} differs from the node id's namespace {node_id.namespace!r}",
        )
    ip = node_id.ip
    instance_ips = _string(meta, "INSTANCE_IPS")
    if instance_ips:
        ip = instance_ips.split(",")[0].strip()
        field = "node.metadata.INSTANCE_IPS"
    else:
        field = "node.id"
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidNodeError(field, f"{ip!r} is not an IP address") from None

    mode = _string(meta, "INTERCEPTION_MODE") or "REDIRECT"
    interception = next((m for m in INTERCEPTION_MODES if m == mode), None)
    if interception is None:
        raise InvalidNodeError(
            "node.metadata.INTERCEPTION_MODE", f"{mode!r} is not one of {INTERCEPTION_MODES}"
        )
    return ProxyNode(
        node_id=node.id,
        proxy_type=node_id.proxy_type,
        ip=ip,
        pod_name=node_id.pod_name,
        namespace=namespace,
        domain=node_id.domain,
        labels=_labels(meta),
        service_account=_string(meta, "SERVICE_ACCOUNT") or "default",
        workload_name=_string(meta, "WORKLOAD_NAME"),
        interception_mode=interception,
        http_proxy_port=_http_proxy_port(meta),
        app_ports=_app_ports(meta),
        extra=tuple(sorted((k, _string(meta, k)) for k in EXTRA_KEYS if k in meta)),
    )


def _string(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key, "")
    if not isinstance(value, str):
        raise InvalidNodeError(f"node.metadata.{key}", f"want a string, got {type(value).__name__}")
    return value


def _labels(meta: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = meta.get("LABELS", {})
    if not isinstance(labels, dict):
        raise InvalidNodeError("node.metadata.LABELS", "want a struct of strings")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise InvalidNodeError(f"node.metadata.LABELS.{key}", "want a string")
    return tuple(sorted(labels.items()))


def _port(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise InvalidNodeError(field, "want a port number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 65536:
        raise InvalidNodeError(field, f"{value!r} is not a port number (1-65535)")
    return value


def _http_proxy_port(meta: Mapping[str, Any]) -> int | None:
    if "HTTP_PROXY_PORT" not in meta:
        return None
    return _port("node.metadata.HTTP_PROXY_PORT", _string(meta, "HTTP_PROXY_PORT"))


def _app_ports(meta: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    field = "node.metadata.MAINSAIL_APP_PORTS"
    raw = meta.get("MAINSAIL_APP_PORTS")
    if raw is None:
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InvalidNodeError(field, f"not a JSON object: {e}") from None
    if not isinstance(raw, dict):
        raise InvalidNodeError(field, "want an object containerPort -> appPort")
    return tuple(
        sorted((_port(f"{field}.{k}", k), _port(f"{field}.{k}", v)) for k, v in raw.items())
    )
