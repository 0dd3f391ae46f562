"""A control plane started on any free port is restarted on the ports it bound."""

from __future__ import annotations

from mainsail.runtime.launcher import _with_bound_ports


def test_restart_arguments_take_the_bound_ports() -> None:
    args = ["control-plane", "--state-dir", "/h", "--xds-port", "0", "--xds-tls-port", "0",
            "--api-port", "0", "--dashboard-port", "0", "--dashboard-scrape-interval", "5"]  # fmt: skip
    info = {
        "pid": 1,
        "api": "http://127.0.0.1:41001",
        "xds": "127.0.0.1:41002",
        "xds_tls": "127.0.0.1:41003",
        "dashboard": "http://127.0.0.1:41004",
        "traces": "http://127.0.0.1:41005",
    }
    assert _with_bound_ports(args, info) == [
        "control-plane", "--state-dir", "/h", "--xds-port", "41002", "--xds-tls-port", "41003",
        "--api-port", "41001", "--dashboard-port", "41004", "--dashboard-scrape-interval", "5",
    ]  # fmt: skip


def test_a_port_not_served_keeps_its_flag() -> None:
    args = ["control-plane", "--xds-port", "15010", "--xds-tls-port", "-1"]
    assert _with_bound_ports(args, {"xds": "127.0.0.1:15010"}) == args
