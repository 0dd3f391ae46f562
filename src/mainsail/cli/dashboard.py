"""``mainsail dashboard [--open]``: the URL of the web app the running control plane serves
(``controlplane.json``'s ``dashboard``); ``--open`` also opens it in a browser."""

from __future__ import annotations

import argparse
import webbrowser

from mainsail.cli.common import CommandError, add_home_argument, home_of
from mainsail.runtime.processes import pid_alive


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "dashboard", help="the URL of the mesh's dashboard (service graph, signals, config, …)"
    )
    parser.add_argument("--open", action="store_true", help="also open it in a web browser")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    home = home_of(args)
    info = home.read_json(home.control_plane_file) or {}
    pid = int(info.get("pid") or 0)
    if not pid or not pid_alive(pid):
        raise CommandError(
            f"no control plane is running from {home.root}: start a mesh with "
            "`mainsail demo` or `mainsail up -f …`"
        )
    url = info.get("dashboard")
    if not url:
        raise CommandError(
            f"the control plane running from {home.root} (pid {pid}) serves no dashboard "
            "(it predates it: restart the mesh)"
        )
    print(url)
    if args.open and not webbrowser.open(str(url)):
        raise CommandError(f"no web browser could be started; open {url} yourself")
    return 0
