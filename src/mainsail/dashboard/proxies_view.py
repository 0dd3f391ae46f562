"""``/api/proxies``: the ADS server's sync state per proxy, joined with its pod and the expiry of
the certificate its Envoy holds (admin ``/certs``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mainsail.platform.pod import PodSpec


def _parse_time(text: str) -> datetime | None:
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def certificate_summary(certs: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The workload certificate (not a CA) that expires first, from Envoy's ``/certs`` JSON."""
    found: list[tuple[datetime, Mapping[str, Any]]] = []
    for entry in certs.get("certificates") or ():
        for cert in entry.get("cert_chain") or ():
            expires = _parse_time(str(cert.get("expiration_time", "")))
            if expires is not None:
                found.append((expires, cert))
    if not found:
        return None
    expires, cert = min(found, key=lambda pair: pair[0])
    sans = [
        str(san.get("uri") or san.get("dns") or "")
        for san in cert.get("subject_alt_names") or ()
        if isinstance(san, Mapping)
    ]
    return {
        "not_after": expires.isoformat().replace("+00:00", "Z"),
        "not_before": cert.get("valid_from"),
        "expires_in_seconds": int((expires - now).total_seconds()),
        "serial": cert.get("serial_number"),
        "subject_alt_names": [s for s in sans if s],
    }


def proxy_id(pod: PodSpec) -> str:
    """Istio's proxy id, ``<pod>.<namespace>`` (what the ADS status rows carry)."""
    return f"{pod.name}.{pod.namespace}"


def proxy_rows(
    status: Sequence[Mapping[str, Any]],
    pods: Sequence[PodSpec],
    certificates: Mapping[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """One row per connected proxy and per pod that has none connected (types empty)."""
    by_id = {proxy_id(p): p for p in pods}
    rows: dict[str, dict[str, Any]] = {}
    for row in status:
        proxy = str(row.get("proxy", ""))
        pod = by_id.get(proxy)
        rows[proxy] = {
            "proxy": proxy,
            "namespace": pod.namespace if pod else proxy.rpartition(".")[2],
            "pod": pod.name if pod else proxy.rpartition(".")[0],
            "type": pod.proxy_type
            if pod
            else ("router" if "router~" in str(row.get("node_id")) else "sidecar"),
            "ip": pod.ip if pod else None,
            "connected": True,
            "connected_since": row.get("connected_since"),
            "mode": row.get("mode"),
            "generation": row.get("generation"),
            "types": row.get("types", {}),
            "certificate": certificates.get(proxy),
        }
    for proxy, pod in by_id.items():
        rows.setdefault(
            proxy,
            {
                "proxy": proxy,
                "namespace": pod.namespace,
                "pod": pod.name,
                "type": pod.proxy_type,
                "ip": pod.ip,
                "connected": False,
                "connected_since": None,
                "mode": None,
                "generation": None,
                "types": {},
                "certificate": certificates.get(proxy),
            },
        )
    return [rows[k] for k in sorted(rows)]
