"""Envoy's bootstrap for one pod, as Istio's pilot-agent renders it (reference §6.2), as a dict.

Pure: the same workload and options give the same document. Differences from Istio, because the
local platform has no pod network namespace: admin, the Prometheus listener and the health
listener bind the pod's own address (not 127.0.0.1 / 0.0.0.0), Envoy talks ADS to the control
plane directly (no agent xDS proxy on a UDS), and the ``agent`` cluster points at the agent's
status server on ``<pod ip>:<status port>``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mainsail import naming
from mainsail.agent.workload import ProxyWorkload

# Not yet in naming.py (owned elsewhere): Istio's name for the cluster to pilot-agent's status port.
AGENT_CLUSTER = "agent"
READINESS_PATH = "/healthz/ready"
PROMETHEUS_PATH = "/stats/prometheus"
# Istio's overload limit on downstream connections (effectively unlimited, but set).
MAX_DOWNSTREAM_CONNECTIONS = 2147483647
# Envoy pings its xDS and SDS servers this often (HTTP/2 keepalive of both bootstrap clusters).
GRPC_KEEPALIVE_S = 30
# What a gRPC server Envoy dials must accept. gRPC's default (a ping per 5 minutes without data,
# then GOAWAY too_many_pings) cut every idle ADS and SDS stream after ~2 minutes, and Envoy
# re-opened it: upstream_cx_protocol_error on xds-grpc and sds-grpc. istiod allows half its
# clients' keepalive time (bootstrap/server.go grpcServerOptions: EnforcementPolicy Time / 2).
GRPC_SERVER_OPTIONS = (("grpc.http2.min_ping_interval_without_data_ms", GRPC_KEEPALIVE_S * 500),)

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapOptions:
    xds_host: str
    xds_port: int
    xds_api_type: Literal["DELTA_GRPC", "GRPC"] = "DELTA_GRPC"
    istio_version: str = "1.24.0"
    domain: str = "cluster.local"
    # The node agent's SDS socket for this pod, once it serves one (adds the ``sds-grpc`` cluster).
    sds_socket: Path | None = None
    # The pod's access log file (MeshConfig ``accessLogFile: /dev/stdout`` writes there).
    access_log: Path | None = None
    # TLS to the control plane (its 15012): the SAN its certificate must carry (Istio's
    # ISTIOD_SAN). Envoy presents the pod's SVID and verifies with ``ROOTCA``, both from SDS.
    xds_tls_san: str | None = None


def node_cluster(workload: ProxyWorkload) -> str:
    """Istio's ``node.cluster``: ``<app label>.<ns>``, else ``<workload>.<ns>``, else istio-proxy."""
    app = workload.labels.get("app") or workload.labels.get("app.kubernetes.io/name")
    if app:
        return f"{app}.{workload.namespace}"
    if workload.workload_name:
        return f"{workload.workload_name}.{workload.namespace}"
    return "istio-proxy"


def node_id(workload: ProxyWorkload, domain: str = "cluster.local") -> str:
    return naming.build_node_id(
        naming.NodeId(
            proxy_type=workload.proxy_type,
            ip=workload.ip,
            pod_name=workload.name,
            namespace=workload.namespace,
            domain=domain,
        )
    )


def node_metadata(workload: ProxyWorkload, options: BootstrapOptions) -> dict[str, Any]:
    """What the control plane reads back into a ``ProxyNode`` (all values strings or objects)."""
    return {
        "NAME": workload.name,
        "NAMESPACE": workload.namespace,
        "INSTANCE_IPS": workload.ip,
        "LABELS": dict(sorted(workload.labels.items())),
        "WORKLOAD_NAME": workload.workload_name or workload.name,
        "SERVICE_ACCOUNT": workload.service_account,
        "INTERCEPTION_MODE": "NONE",
        "HTTP_PROXY_PORT": str(workload.proxy_ports.outbound),
        # The proxy's own ports on the pod address, so outbound listeners avoid them.
        "ENVOY_STATUS_PORT": str(workload.proxy_ports.health),
        "ENVOY_PROMETHEUS_PORT": str(workload.proxy_ports.prometheus),
        "MAINSAIL_ADMIN_PORT": str(workload.proxy_ports.admin),
        "MAINSAIL_AGENT_PORT": str(workload.proxy_ports.status),
        "MAINSAIL_APP_PORTS": {
            str(port): str(app) for port, app in sorted(workload.app_ports.items())
        },
        "ISTIO_VERSION": options.istio_version,
        **({"MAINSAIL_ACCESS_LOG": str(options.access_log)} if options.access_log else {}),
    }


def build_bootstrap(workload: ProxyWorkload, options: BootstrapOptions) -> dict[str, Any]:
    ports = workload.proxy_ports
    clusters = [
        _xds_cluster(options),
        _static_cluster(naming.PROMETHEUS_STATS_CLUSTER, workload.ip, ports.admin),
        _static_cluster(AGENT_CLUSTER, workload.ip, ports.status),
    ]
    if options.sds_socket is not None:
        clusters.append(_sds_cluster(options.sds_socket))
    clusters.append(_mixer_fluentd_cluster())
    return {
        "node": {
            "id": node_id(workload, options.domain),
            "cluster": node_cluster(workload),
            "metadata": node_metadata(workload, options),
        },
        "admin": {"address": _address(workload.ip, ports.admin)},
        "dynamic_resources": {
            "ads_config": {
                "api_type": options.xds_api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": naming.XDS_CLUSTER}}],
            },
            "cds_config": _ads_source(),
            "lds_config": _ads_source(),
        },
        "static_resources": {
            "clusters": clusters,
            "listeners": [
                _http_listener(
                    workload.ip,
                    ports.prometheus,
                    stat_prefix="stats",
                    path=PROMETHEUS_PATH,
                    cluster=naming.PROMETHEUS_STATS_CLUSTER,
                    rename_istio_metrics=True,
                ),
                _http_listener(
                    workload.ip,
                    ports.health,
                    stat_prefix="agent",
                    path=READINESS_PATH,
                    cluster=AGENT_CLUSTER,
                ),
            ],
        },
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors."
                        "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"
                },
            }
        ],
        "layered_runtime": {
            "layers": [
                {
                    "name": "global config",
                    "static_layer": {"re2.max_program_size.error_level": 32768},
                },
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "stats_config": _stats_config(options.domain),
    }


def bootstrap_json(workload: ProxyWorkload, options: BootstrapOptions) -> str:
    return json.dumps(build_bootstrap(workload, options), indent=2, sort_keys=True) + "\n"


def _address(ip: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": ip, "port_value": port}}


def _ads_source() -> dict[str, Any]:
    # 0s: wait for the first CDS/LDS without a timeout, so Envoy never goes LIVE half-configured.
    return {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}


def _http2_options() -> dict[str, Any]:
    return {
        _HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{_HTTP_OPTIONS}",
            "explicit_http_config": {
                "http2_protocol_options": {
                    "connection_keepalive": {"interval": f"{GRPC_KEEPALIVE_S}s", "timeout": "10s"}
                }
            },
        }
    }


def _generous_circuit_breakers() -> dict[str, Any]:
    limits = {"max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000}
    return {"thresholds": [{"priority": "DEFAULT", **limits}, {"priority": "HIGH", **limits}]}


def _xds_cluster(options: BootstrapOptions) -> dict[str, Any]:
    cluster = {
        "name": naming.XDS_CLUSTER,
        "type": "STATIC" if _is_ip(options.xds_host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": _load_assignment(naming.XDS_CLUSTER, options.xds_host, options.xds_port),
        "circuit_breakers": _generous_circuit_breakers(),
        "upstream_connection_options": {"tcp_keepalive": {"keepalive_time": 300}},
        "typed_extension_protocol_options": _http2_options(),
    }
    if options.xds_tls_san is not None:
        if options.sds_socket is None:
            raise ValueError("TLS to the control plane needs the pod's SDS socket (its SVID)")
        cluster["transport_socket"] = _xds_tls_socket(options.xds_tls_san)
    return cluster


def _xds_tls_socket(san: str) -> dict[str, Any]:
    """As Istio's bootstrap did while Envoy dialled istiod's 15012 itself (1.5): SNI and SAN
    check on ``ISTIOD_SAN``, the pod's SVID ``default`` as client certificate, ``ROOTCA``
    (so a rotated root is trusted as soon as the agent has it) as the trust anchor."""
    sds = {
        "api_config_source": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "set_node_on_first_message_only": True,
            "grpc_services": [{"envoy_grpc": {"cluster_name": naming.SDS_CLUSTER}}],
        },
        "resource_api_version": "V3",
        "initial_fetch_timeout": "0s",
    }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": _UPSTREAM_TLS,
            "sni": san,
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "tls_certificate_sds_secret_configs": [
                    {"name": naming.WORKLOAD_SECRET, "sds_config": sds}
                ],
                "combined_validation_context": {
                    "default_validation_context": {
                        "match_typed_subject_alt_names": [
                            {"san_type": "DNS", "matcher": {"exact": san}}
                        ]
                    },
                    "validation_context_sds_secret_config": {
                        "name": naming.ROOT_CA_SECRET,
                        "sds_config": sds,
                    },
                },
            },
        },
    }


def _sds_cluster(socket: Path) -> dict[str, Any]:
    return {
        "name": naming.SDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": naming.SDS_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": str(socket)}}}}]}
            ],
        },
        "typed_extension_protocol_options": _http2_options(),
    }


def _mixer_fluentd_cluster() -> dict[str, Any]:
    """Envoy's fluentd access logger sends only to bootstrap clusters: this one's endpoint is
    the book's Mixer fluentd handler address, sent over ADS (``xds.mixer``). A proxy with no
    such handler gets an empty assignment, so startup does not wait for it."""
    return {
        "name": naming.MIXER_FLUENTD_CLUSTER,
        "type": "EDS",
        "connect_timeout": "1s",
        "eds_cluster_config": {"eds_config": {**_ads_source(), "initial_fetch_timeout": "1s"}},
    }


def _static_cluster(name: str, ip: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.250s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": _load_assignment(name, ip, port),
    }


def _load_assignment(name: str, host: str, port: int) -> dict[str, Any]:
    return {
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
    }


# Envoy prints the stats access logger's ``istio`` scope as ``envoy_istio_*``; Istio's names have
# no ``envoy_`` (its stats filter registers a custom namespace, which stock Envoy cannot). The
# Prometheus listener renames those families at line starts on the way out; scrapes only.
_RENAME_ISTIO_METRICS = """
function envoy_on_response(handle)
  local body = handle:body()
  if body == nil then return end
  local text = "\\n" .. body:getBytes(0, body:length())
  text = string.gsub(text, "\\n# TYPE envoy_istio_", "\\n# TYPE istio_")
  text = string.gsub(text, "\\nenvoy_istio_", "\\nistio_")
  body:setBytes(string.sub(text, 2))
end
"""
_LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"


def _http_listener(
    ip: str,
    port: int,
    *,
    stat_prefix: str,
    path: str,
    cluster: str,
    rename_istio_metrics: bool = False,
) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    if rename_istio_metrics:
        filters.append(
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": _LUA,
                    "default_source_code": {"inline_string": _RENAME_ISTIO_METRICS},
                },
            }
        )
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}})
    listener: dict[str, Any] = {
        "name": naming.build_listener_name(ip, port),
        "address": _address(ip, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": _HCM,
                            "codec_type": "AUTO",
                            "stat_prefix": stat_prefix,
                            "route_config": {
                                "virtual_hosts": [
                                    {
                                        "name": "backend",
                                        "domains": ["*"],
                                        "routes": [
                                            {
                                                "match": {"prefix": path},
                                                "route": {"cluster": cluster},
                                            }
                                        ],
                                    }
                                ]
                            },
                            "http_filters": filters,
                        },
                    }
                ]
            }
        ],
    }
    if rename_istio_metrics:
        # The Lua filter holds the whole scrape in memory: allow more than the 1 MiB default.
        listener["per_connection_buffer_limit_bytes"] = 64 * 1024 * 1024
    return listener


def _stats_config(domain: str) -> dict[str, Any]:
    """Istio's tag extractors (its bootstrap's ``stats_tags``), with our cluster domain.

    Istio turns Envoy's default tags off because they cut service cluster names such as
    ``outbound|9080||reviews.default.svc.cluster.local`` at the first dot. No inclusion list:
    every stat is kept, ``/stats/prometheus`` is for people and the dashboard, not a hot path.
    """
    fqdn = re.escape(f".svc.{domain}")
    address = r"((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))"
    tags = [
        ("cluster_name", rf"^cluster\.((.+?(\..+?{fqdn})?)\.)"),
        ("tcp_prefix", r"^tcp\.((.*?)\.)\w+?$"),
        ("response_code", r"_rq(_(\d{3}))$"),
        ("response_code_class", r"_rq(_(\dxx))$"),
        ("http_conn_manager_listener_prefix", rf"^listener(?=\.).*?\.http\.({address}\.)"),
        ("http_conn_manager_prefix", rf"^http\.({address}\.)"),
        ("listener_address", rf"^listener\.({address}\.)"),
    ]
    return {
        "use_all_default_tags": False,
        "stats_tags": [{"tag_name": name, "regex": regex} for name, regex in tags],
    }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
