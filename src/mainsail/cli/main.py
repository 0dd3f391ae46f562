"""Entry point of the ``mainsail`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mainsail.cli import (
    analyze,
    apply,
    authz,
    ca,
    convert,
    daemons,
    dashboard,
    get,
    mesh,
    proxy_config,
    proxy_status,
    stat,
    traces,
    validate,
)
from mainsail.cli.common import CommandError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mainsail", description="An Istio-compatible service mesh driving real Envoy."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        mesh,
        apply,
        get,
        validate,
        convert,
        analyze,
        proxy_status,
        proxy_config,
        stat,
        traces,
        dashboard,
        authz,
        ca,
        daemons,
    ):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # Piped into `head`: stop quietly like a Unix tool. (Not SIGPIPE's default action: the
        # daemons share this entry point and must survive a peer closing a socket.)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
