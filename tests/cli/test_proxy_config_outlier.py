"""The endpoint table's OUTLIER CHECK column, from Envoy's admin ``/clusters?format=json``."""

from __future__ import annotations

from typing import Any

from mainsail.cli.proxy_config import _endpoint_rows, outlier_ejected

CLUSTER = "outbound|8080||flaky.default.svc.cluster.local"


def _host(address: str, **health: Any) -> dict[str, Any]:
    return {
        "address": {"socket_address": {"address": address, "port_value": 8080}},
        "health_status": {"eds_health_status": "HEALTHY", **health},
    }


def test_ejected_hosts_are_read_from_admin_clusters() -> None:
    clusters = {
        "cluster_statuses": [
            {
                "name": CLUSTER,
                "host_statuses": [
                    _host("127.0.0.6"),
                    _host("127.0.0.8", failed_outlier_check=True),
                ],
            },
            {"name": "BlackHoleCluster"},
        ]
    }
    assert outlier_ejected(clusters) == {(CLUSTER, "127.0.0.8:8080")}
    assert outlier_ejected({}) == set()


def test_endpoint_rows_show_failed_only_for_the_ejected_endpoint() -> None:
    assignment = {
        "cluster_name": CLUSTER,
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {"socket_address": {"address": a, "port_value": 8080}}
                        }
                    }
                    for a in ("127.0.0.6", "127.0.0.8")
                ]
            }
        ],
    }
    assert _endpoint_rows([assignment], {(CLUSTER, "127.0.0.8:8080")}) == [
        ["127.0.0.6:8080", "HEALTHY", "OK", CLUSTER],
        ["127.0.0.8:8080", "HEALTHY", "FAILED", CLUSTER],
    ]
    # Same address in another cluster: not ejected there.
    other = {**assignment, "cluster_name": "outbound|8080|v1|flaky.default.svc.cluster.local"}
    assert [row[2] for row in _endpoint_rows([other], {(CLUSTER, "127.0.0.8:8080")})] == [
        "OK",
        "OK",
    ]
