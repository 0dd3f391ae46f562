"""Shared by the SDS tests: read the secrets out of Envoy's config_dump, and a bootstrap whose
static cluster makes Envoy fetch ``default`` and ``ROOTCA`` from the pod's SDS socket."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cryptography import x509

from mainsail.agent import BootstrapOptions, ProxyWorkload, build_bootstrap
from mainsail.agent.svid import split_pem
from mainsail.testing.loopback import free_tcp_ports, random_loopback_address
from mainsail.testing.ports import free_port
from mainsail.testing.sds import ApiType, mtls_cluster


def workload() -> ProxyWorkload:
    ip = random_loopback_address()
    admin, outbound, status, health, prometheus = free_tcp_ports(ip, 5)
    return ProxyWorkload.model_validate(
        {
            "name": "web-abcde-0",
            "namespace": "shop",
            "ip": ip,
            "service_account": "web",
            "proxy_ports": {
                "admin": admin,
                "outbound": outbound,
                "status": status,
                "health": health,
                "prometheus": prometheus,
            },
        }
    )


def bootstrap_with_mtls_cluster(
    pod: ProxyWorkload, socket: Path, api_type: ApiType = "GRPC"
) -> dict[str, Any]:
    options = BootstrapOptions(
        xds_host="127.0.0.1", xds_port=free_port("127.0.0.1"), sds_socket=socket
    )
    config = build_bootstrap(pod, options)
    config["static_resources"]["clusters"].append(
        mtls_cluster("mtls-probe", pod.ip, pod.proxy_ports.outbound, api_type)
    )
    return config


def secrets_in(dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> {"status", "serials", "version"} from the SecretsConfigDump of a full dump."""
    found: dict[str, dict[str, Any]] = {}
    for config in _secret_entries(dump):
        status = "WARMING" if config.get("_kind") == "dynamic_warming_secrets" else "ACTIVE"
        secret = config.get("secret", {})
        name = config.get("name") or secret.get("name")
        pem = ""
        if "tls_certificate" in secret:
            pem = _bytes(secret["tls_certificate"]["certificate_chain"])
        elif "validation_context" in secret:
            pem = _bytes(secret["validation_context"]["trusted_ca"])
        serials = [x509.load_pem_x509_certificate(p.encode()).serial_number for p in split_pem(pem)]
        found[name] = {"status": status, "serials": serials, "version": config.get("version_info")}
    return found


def _secret_entries(dump: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for config in dump.get("configs", []):
        if config.get("@type", "").endswith("SecretsConfigDump"):
            for key in ("dynamic_active_secrets", "dynamic_warming_secrets"):
                for item in config.get(key, []):
                    entries.append({**item, "_kind": key})
    return entries


def _bytes(source: dict[str, Any]) -> str:
    if "inline_bytes" in source:
        return base64.b64decode(source["inline_bytes"]).decode()
    return str(source.get("inline_string", ""))
