from __future__ import annotations

from mainsail.agent.admin import _parse_stats


def test_parse_stats_keeps_integer_values() -> None:
    text = (
        "cluster_manager.cds.update_success: 3\n"
        "listener.127.1.2.3_9080.downstream_cx_active: 2\n"
        "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_time: "
        "P0(nan,1) P25(nan,2)\n"
    )
    assert _parse_stats(text) == {
        "cluster_manager.cds.update_success": 3,
        "listener.127.1.2.3_9080.downstream_cx_active": 2,
    }
