"""Where the agent puts a pod's SDS socket: under its proxy directory, unless that passes the
108-byte Unix socket limit."""

from __future__ import annotations

import os
from pathlib import Path

from mainsail.agent.layout import AgentLayout


def test_short_state_dir_keeps_the_socket_beside_the_bootstrap() -> None:
    layout = AgentLayout(Path("/tmp/ms"))
    assert layout.sds_socket("shop.web-0") == Path("/tmp/ms/proxies/shop.web-0/sds.sock")


def test_long_paths_fall_back_to_a_short_stable_per_user_path() -> None:
    layout = AgentLayout(Path("/tmp/" + "deep/" * 20))
    socket = layout.sds_socket("shop.web-0")
    assert len(str(socket)) <= 107
    assert socket.parent.name == f"mainsail-{os.getuid()}"
    assert layout.sds_socket("shop.web-0") == socket  # a restarted agent finds the same path
    assert layout.sds_socket("shop.web-1") != socket
    assert AgentLayout(Path("/tmp/" + "other/" * 20)).sds_socket("shop.web-0") != socket


def test_the_token_sits_beside_the_pod_file() -> None:
    layout = AgentLayout(Path("/state"))
    assert layout.token_file("shop.web-0") == Path("/state/pods/shop.web-0.token")
