"""What every subcommand shares: the home directory, the API client, printing errors and tables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mainsail.api.client import ApiClient, ApiError
from mainsail.config.errors import ConfigError
from mainsail.runtime.home import Home, default_home


class CommandError(Exception):
    """A user-facing failure: printed as ``error: <message>``, exit code 1."""


def add_home_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where Mainsail keeps its state (default: $MAINSAIL_HOME or ~/.local/state/mainsail)",
    )


def home_of(args: argparse.Namespace) -> Home:
    return Home(args.state_dir or default_home())


def client_of(args: argparse.Namespace) -> ApiClient:
    home = home_of(args)
    info = home.read_json(home.control_plane_file)
    if not info or "api" not in info:
        raise CommandError(
            f"no control plane is running for {home.root} (start one with `mainsail demo` or "
            "`mainsail up -f mesh.yaml`)"
        )
    return ApiClient(str(info["api"]))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [len(h) for h in headers]
    cells = [[str(c) for c in row] for row in rows]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for row in [list(headers), *cells]:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def dump(value: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(value, indent=2, sort_keys=False))
    else:
        sys.stdout.write(yaml.safe_dump(value, sort_keys=False))


def api_errors(exc: ApiError) -> str:
    if exc.errors:
        return "\n".join(str(e.get("message")) for e in exc.errors)
    return str(exc)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr, one line per line of the message (as kubectl does)."""
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def print_api_error(exc: ApiError) -> None:
    print_error(api_errors(exc))


def describe(problem: ConfigError) -> str:
    """``error: <where>: <what>`` or ``warning: <where>: <what>``."""
    # The error's own text marks warnings in the middle; the severity leads here instead.
    return f"{problem.severity}: {dataclasses.replace(problem, severity='error')}"
