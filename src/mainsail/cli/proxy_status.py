"""``mainsail proxy-status``: each proxy's sync state per xDS type, like ``istioctl proxy-status``.

SYNCED: the proxy ACKed the latest config; STALE: sent, not yet ACKed; NACK: Envoy rejected it
(its error is printed under the table); NOT SENT: nothing of that type for this proxy.
"""

from __future__ import annotations

import argparse

from mainsail.api.client import ApiError
from mainsail.cli.common import (
    CommandError,
    add_home_argument,
    client_of,
    dump,
    print_api_error,
    print_table,
)

TYPES = ("CDS", "LDS", "EDS", "RDS")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("proxy-status", help="sync state of every connected proxy")
    parser.add_argument("proxy", nargs="?", help="only this proxy (<pod>.<namespace>)")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        proxies = client_of(args).proxy_status()["proxies"]
    except ApiError as exc:
        print_api_error(exc)
        return 1
    if args.proxy:
        connected = sorted(str(p["proxy"]) for p in proxies)
        proxies = [p for p in proxies if args.proxy in (p["proxy"], str(p["proxy"]).split(".")[0])]
        if not proxies:
            raise CommandError(
                f"no connected proxy is {args.proxy!r}; connected: {', '.join(connected) or 'none'}"
            )
    if args.output != "table":
        dump(proxies, args.output)
        return 0
    rows = []
    errors = []
    for proxy in sorted(proxies, key=lambda p: str(p["proxy"])):
        states = proxy.get("types", {})
        row = [proxy["proxy"], proxy.get("mode", "")]
        for short in TYPES:
            state = states.get(short, {})
            row.append(state.get("state", "NOT SENT"))
            if state.get("state") == "NACK":
                errors.append(f"{proxy['proxy']} {short} NACK: {state.get('error', '')}")
        row.append(proxy.get("control_plane", "mainsail"))
        rows.append(row)
    print_table(["NAME", "XDS", *TYPES, "ISTIOD"], rows)
    for error in errors:
        print(error)
    return 0
