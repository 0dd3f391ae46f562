"""``mainsail proxy-config cluster|listener|route|endpoint|secret|bootstrap|all <pod>``.

Read from the pod's Envoy admin ``/config_dump`` (what Envoy really holds, not what we sent),
printed as tables like ``istioctl proxy-config``, or whole with ``-o json|yaml``. The endpoint
table's ``OUTLIER CHECK`` is Envoy's live view (admin ``/clusters``): ``FAILED`` while outlier
detection has the endpoint ejected. The secret table reads each certificate Envoy holds from
SDS (``default``: the SVID's leaf; ``ROOTCA``: every root of the bundle, two during a root
rotation's overlap) as ``istioctl proxy-config secret`` shows them.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from mainsail import naming
from mainsail.cli.common import CommandError, add_home_argument, dump, home_of, print_table
from mainsail.platform.pod import PodSpec
from mainsail.platform.pod_store import PodStore

_SECTIONS = {
    "cluster": "dynamic_active_clusters",
    "listener": "dynamic_listeners",
    "route": "dynamic_route_configs",
    "endpoint": None,
    "secret": None,
    "bootstrap": None,
    "all": None,
}
_ALIASES = {
    "clusters": "cluster",
    "listeners": "listener",
    "routes": "route",
    "endpoints": "endpoint",
    "secrets": "secret",
    "s": "secret",
    "c": "cluster",
    "l": "listener",
    "r": "route",
    "ep": "endpoint",
    "b": "bootstrap",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("proxy-config", help="what one proxy's Envoy holds")
    parser.add_argument("type", help="cluster|listener|route|endpoint|secret|bootstrap|all")
    parser.add_argument("pod", help="pod name (or <pod>.<namespace>, or a unique prefix)")
    parser.add_argument("-n", "--namespace", default=None)
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def find_pod(pods: tuple[PodSpec, ...], name: str, namespace: str | None) -> PodSpec:
    candidates = [
        p
        for p in pods
        if (namespace is None or p.namespace == namespace)
        and (p.name == name or f"{p.name}.{p.namespace}" == name)
    ]
    if not candidates:
        candidates = [
            p
            for p in pods
            if (namespace is None or p.namespace == namespace) and p.name.startswith(name)
        ]
    if len(candidates) != 1:
        known = ", ".join(sorted(f"{p.name}.{p.namespace}" for p in pods)) or "none"
        what = "no pod" if not candidates else "more than one pod"
        raise CommandError(f"{what} matches {name!r}; pods: {known}")
    return candidates[0]


def _admin_get(pod: PodSpec, path: str) -> Any:
    url = f"http://{pod.ip}:{pod.proxy_ports.admin}{path}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError as exc:
        raise CommandError(f"cannot read {url}: {exc}") from exc


def _configs(dump_json: dict[str, Any], suffix: str) -> dict[str, Any]:
    for config in dump_json.get("configs", []):
        if str(config.get("@type", "")).endswith("." + suffix):
            return dict(config)
    return {}


def run(args: argparse.Namespace) -> int:
    kind = _ALIASES.get(args.type, args.type)
    if kind not in _SECTIONS:
        raise CommandError(f"unknown type {args.type!r}; want one of {', '.join(_SECTIONS)}")
    pod = find_pod(PodStore(home_of(args).platform).list(), args.pod, args.namespace)
    path = "/config_dump?include_eds" if kind in ("endpoint", "all") else "/config_dump"
    config = _admin_get(pod, path)
    if kind == "all":
        dump(config, "json" if args.output == "table" else args.output)
        return 0
    if kind == "bootstrap":
        dump(
            _configs(config, "BootstrapConfigDump"),
            "json" if args.output == "table" else args.output,
        )
        return 0
    if kind == "secret":
        section = _configs(config, "SecretsConfigDump")
        if args.output != "table":
            dump(section, args.output)
            return 0
        print_table(SECRET_HEADERS, secret_rows(section, datetime.now(UTC)))
        return 0
    if kind == "cluster":
        items = [
            c["cluster"]
            for c in _configs(config, "ClustersConfigDump").get("dynamic_active_clusters", [])
        ]
        return _emit(
            args.output,
            items,
            _cluster_rows(items),
            ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"],
        )
    if kind == "listener":
        items = [
            lst["active_state"]["listener"]
            for lst in _configs(config, "ListenersConfigDump").get("dynamic_listeners", [])
            if "active_state" in lst
        ]
        return _emit(
            args.output,
            items,
            _listener_rows(items),
            ["NAME", "ADDRESSES", "PORT", "DIRECTION", "CHAINS"],
        )
    if kind == "route":
        items = [
            r["route_config"]
            for r in _configs(config, "RoutesConfigDump").get("dynamic_route_configs", [])
        ]
        return _emit(
            args.output,
            items,
            _route_rows(items),
            ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"],
        )
    items = [
        e["endpoint_config"]
        for e in _configs(config, "EndpointsConfigDump").get("dynamic_endpoint_configs", [])
    ]
    ejected = set()
    if args.output == "table":
        ejected = outlier_ejected(_admin_get(pod, "/clusters?format=json"))
    return _emit(
        args.output,
        items,
        _endpoint_rows(items, ejected),
        ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"],
    )


def _emit(output: str, items: list[Any], rows: list[list[str]], headers: list[str]) -> int:
    if output != "table":
        dump(items, output)
    else:
        print_table(headers, rows)
    return 0


def _cluster_rows(clusters: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for cluster in sorted(clusters, key=lambda c: str(c.get("name"))):
        name = str(cluster.get("name", ""))
        key = naming.parse_cluster_name(name)
        config = (
            cluster.get("metadata", {})
            .get("filter_metadata", {})
            .get("istio", {})
            .get("config", "")
        )
        rule = ""
        if "/destination-rule/" in str(config):
            parts = str(config).split("/")
            rule = f"{parts[-1]}.{parts[-3]}"
        cluster_type = str(cluster.get("type", "EDS"))
        if key is None:
            rows.append([name, "-", "-", "-", cluster_type, rule])
        else:
            rows.append(
                [
                    key.host or "",
                    str(key.port),
                    key.subset or "-",
                    key.direction,
                    cluster_type,
                    rule,
                ]
            )
    return rows


def _listener_rows(listeners: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for listener in listeners:
        address = listener.get("address", {}).get("socket_address", {})
        rows.append(
            [
                str(listener.get("name", "")),
                str(address.get("address", "")),
                str(address.get("port_value", "")),
                str(listener.get("traffic_direction", "")),
                ",".join(str(c.get("name", "")) for c in listener.get("filter_chains", [])),
            ]
        )
    return rows


def _route_match(route: dict[str, Any]) -> str:
    match = route.get("match", {})
    for key in ("path", "prefix"):
        if key in match:
            value = str(match[key])
            return (
                f"{value}*"
                if key == "prefix" and value != "/"
                else (f"{value}*" if key == "prefix" else value)
            )
    if "safe_regex" in match:
        return str(match["safe_regex"].get("regex", ""))
    return "/*"


def _route_rows(configs: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for config in configs:
        for vhost in config.get("virtual_hosts", []):
            domains = vhost.get("domains", [])
            shown = domains[0] if domains else ""
            if len(domains) > 1:
                shown += f" +{len(domains) - 1} more..."
            for route in vhost.get("routes", []) or [{}]:
                source = (
                    route.get("metadata", {})
                    .get("filter_metadata", {})
                    .get("istio", {})
                    .get("config", "")
                )
                vs = ""
                if "/virtual-service/" in str(source):
                    parts = str(source).split("/")
                    vs = f"{parts[-1]}.{parts[-3]}"
                rows.append(
                    [
                        str(config.get("name", "")),
                        str(vhost.get("name", "")),
                        shown,
                        _route_match(route) if route else "",
                        vs or "-",
                    ]
                )
    return rows


def outlier_ejected(clusters: dict[str, Any]) -> set[tuple[str, str]]:
    """(cluster, ``address:port``) of every host Envoy's admin ``/clusters?format=json`` reports
    as failing its outlier check (ejected)."""
    found = set()
    for cluster in clusters.get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            if host.get("health_status", {}).get("failed_outlier_check"):
                address = host.get("address", {}).get("socket_address", {})
                endpoint = f"{address.get('address')}:{address.get('port_value')}"
                found.add((str(cluster.get("name", "")), endpoint))
    return found


def _endpoint_rows(
    assignments: list[dict[str, Any]], ejected: set[tuple[str, str]]
) -> list[list[str]]:
    rows = []
    for assignment in assignments:
        cluster = str(assignment.get("cluster_name", ""))
        for locality in assignment.get("endpoints", []):
            for endpoint in locality.get("lb_endpoints", []):
                address = endpoint.get("endpoint", {}).get("address", {}).get("socket_address", {})
                shown = f"{address.get('address')}:{address.get('port_value')}"
                rows.append(
                    [
                        shown,
                        str(endpoint.get("health_status", "HEALTHY")),
                        "FAILED" if (cluster, shown) in ejected else "OK",
                        cluster,
                    ]
                )
    return rows


SECRET_HEADERS = [
    "RESOURCE NAME",
    "TYPE",
    "STATUS",
    "VALID CERT",
    "SERIAL NUMBER",
    "NOT AFTER",
    "NOT BEFORE",
]


def secret_rows(section: dict[str, Any], now: datetime) -> list[list[str]]:
    """One row per certificate of each secret in a ``SecretsConfigDump``: a certificate chain's
    leaf, every root of a validation context. Warming secrets (asked for, not yet answered)
    show with empty certificate columns."""
    rows: list[list[str]] = []
    entries = [(s, "ACTIVE") for s in section.get("dynamic_active_secrets", [])]
    entries += [(s, "WARMING") for s in section.get("dynamic_warming_secrets", [])]
    entries += [(s, "ACTIVE") for s in section.get("static_secrets", [])]
    for entry, status in entries:
        secret = entry.get("secret", {})
        name = str(entry.get("name") or secret.get("name", ""))
        if "tls_certificate" in secret:
            kind = "Cert Chain"
            certs = _certificates(secret["tls_certificate"].get("certificate_chain", {}))[:1]
        elif "validation_context" in secret:
            kind = "CA"
            certs = _certificates(secret["validation_context"].get("trusted_ca", {}))
        else:
            kind, certs = "", []
        if not certs:
            rows.append([name, kind, status, "false", "", "", ""])
        for cert in certs:
            before, after = cert.not_valid_before_utc, cert.not_valid_after_utc
            rows.append(
                [
                    name,
                    kind,
                    status,
                    "true" if before <= now <= after else "false",
                    format(cert.serial_number, "x"),
                    _rfc3339(after),
                    _rfc3339(before),
                ]
            )
    return rows


def _certificates(source: dict[str, Any]) -> list[x509.Certificate]:
    """The certificates of a DataSource as the admin API dumps it (bytes come base64)."""
    if "inline_bytes" in source:
        try:
            data = base64.b64decode(source["inline_bytes"])
        except (binascii.Error, ValueError):
            return []
    elif "inline_string" in source:
        data = str(source["inline_string"]).encode()
    else:
        return []
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError:
        return []


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
