"""``mainsail validate -f FILE...``: offline; every error with file, document, object and field."""

from __future__ import annotations

import argparse

from mainsail.cli.common import describe
from mainsail.config.parse import load_paths
from mainsail.config.validation import validate_all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("validate", help="validate config files offline")
    parser.add_argument(
        "-f", "--filename", action="append", required=True, help="file or directory"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    parsed = load_paths(args.filename)
    problems = [*parsed.errors, *validate_all(parsed)]
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(describe(problem))
    if errors:
        print(f"{len(errors)} error(s) in {', '.join(args.filename)}")
        return 1
    print(f"{len(parsed.resources)} object(s) valid in {', '.join(args.filename)}")
    return 0
