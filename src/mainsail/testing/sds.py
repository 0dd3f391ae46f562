"""Envoy config that makes Envoy ask its node agent for the SVID: an upstream cluster with
Istio's ISTIO_MUTUAL TLS context (``default`` + ``ROOTCA`` over ``sds-grpc``), as a bootstrap
static cluster (JSON) or an ADS resource. Envoy fetches a cluster's secrets while it warms.
"""

from __future__ import annotations

from typing import Any, Literal

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401 - registers UpstreamTlsContext for ParseDict
from google.protobuf import json_format

from mainsail import naming
from mainsail.xds.resources import XdsResource

ApiType = Literal["GRPC", "DELTA_GRPC"]


def sds_config(api_type: ApiType = "GRPC") -> dict[str, Any]:
    """Istio's ``sds_config`` for its secrets (``api_type: GRPC`` to the agent's socket)."""
    return {
        "api_config_source": {
            "api_type": api_type,
            "set_node_on_first_message_only": True,
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": naming.SDS_CLUSTER}}],
        },
        "initial_fetch_timeout": "0s",
        "resource_api_version": "V3",
    }


def mtls_cluster(
    name: str,
    host: str,
    port: int,
    api_type: ApiType = "GRPC",
    *,
    certificate: str = naming.WORKLOAD_SECRET,
    roots: str = naming.ROOT_CA_SECRET,
) -> dict[str, Any]:
    """A STATIC cluster whose upstream TLS uses the pod's SVID and trust bundle from SDS (or
    the secrets named ``certificate`` and ``roots``)."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": host, "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
        "transport_socket": {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "common_tls_context": {
                    "tls_certificate_sds_secret_configs": [
                        {"name": certificate, "sds_config": sds_config(api_type)}
                    ],
                    "combined_validation_context": {
                        "default_validation_context": {},
                        "validation_context_sds_secret_config": {
                            "name": roots,
                            "sds_config": sds_config(api_type),
                        },
                    },
                    "alpn_protocols": ["istio"],
                },
                "sni": f"outbound_.{port}_._.{name}",
            },
        },
    }


def mtls_cluster_resource(
    name: str, host: str, port: int, api_type: ApiType = "GRPC"
) -> XdsResource:
    cluster = cluster_pb2.Cluster()
    json_format.ParseDict(mtls_cluster(name, host, port, api_type), cluster)
    return XdsResource.pack(name, cluster)
