"""``mainsail validate -f FILE...``: offline; every error with file:line, document, object, field.

The line is the field's when the error names one that is in the file (else its nearest parent's,
else the document's), as ``istioctl`` prints ``(file.yaml:12)``.
"""

from __future__ import annotations

import argparse
import dataclasses

from mainsail.cli.common import describe
from mainsail.config.errors import ConfigError
from mainsail.config.parse import ParseResult, load_paths
from mainsail.config.validation import validate_all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("validate", help="validate config files offline")
    parser.add_argument(
        "-f", "--filename", action="append", required=True, help="file or directory"
    )
    parser.set_defaults(run=run)


def with_line(problem: ConfigError, parsed: ParseResult) -> ConfigError:
    """``problem`` with ``file:line`` as its file, when its document was read as a mapping."""
    origin = parsed.origin_of(problem.file, problem.document)
    if origin is None:
        return problem
    return dataclasses.replace(problem, file=f"{origin.file}:{origin.line_of(problem.path)}")


def run(args: argparse.Namespace) -> int:
    parsed = load_paths(args.filename)
    problems = [with_line(p, parsed) for p in (*parsed.errors, *validate_all(parsed))]
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(describe(problem))
    if errors:
        print(f"{len(errors)} error(s) in {', '.join(args.filename)}")
        return 1
    print(f"{len(parsed.resources)} object(s) valid in {', '.join(args.filename)}")
    return 0
