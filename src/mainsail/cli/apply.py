"""``mainsail apply -f`` and ``mainsail delete -f | KIND NAME``: change the running mesh's config.

A batch with any error changes nothing (the control plane checks it whole).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mainsail.api.client import ApiError
from mainsail.cli.common import (
    CommandError,
    add_home_argument,
    client_of,
    describe,
    print_api_error,
)
from mainsail.config.parse import YAML_SUFFIXES, load_paths
from mainsail.config.schema import lookup
from mainsail.config.validation import validate_all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    apply = sub.add_parser("apply", help="create or update config in the running mesh")
    apply.add_argument("-f", "--filename", action="append", required=True)
    apply.add_argument("-n", "--namespace", default="default")
    apply.add_argument("--dry-run", action="store_true", help="check only; change nothing")
    add_home_argument(apply)
    apply.set_defaults(run=run_apply)
    delete = sub.add_parser("delete", help="delete config from the running mesh")
    delete.add_argument("-f", "--filename", action="append")
    delete.add_argument("-n", "--namespace", default="default")
    delete.add_argument("kind", nargs="?")
    delete.add_argument("names", nargs="*")
    add_home_argument(delete)
    delete.set_defaults(run=run_delete)


def _read_all(paths: list[str]) -> list[tuple[str, str]]:
    texts = []
    for given in paths:
        path = Path(given)
        # The same files `load_paths` checked, so what is applied is what was checked.
        files = (
            sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                texts.append((str(file), file.read_text(encoding="utf-8")))
            except OSError as exc:
                raise CommandError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    return texts


def run_apply(args: argparse.Namespace) -> int:
    # Check every file first so that a bad one anywhere changes nothing anywhere.
    parsed = load_paths(args.filename, args.namespace)
    # Every error of every file at once (the control plane would stop at the first bad file).
    errors = [p for p in (*parsed.errors, *validate_all(parsed)) if p.is_error]
    if errors:
        for error in errors:
            print(describe(error), file=sys.stderr)
        return 1
    if not parsed.resources:
        raise CommandError(f"no objects passed to apply (in {', '.join(args.filename)})")
    client = client_of(args)
    texts = _read_all(args.filename)
    try:
        checked = [
            client.apply(text, source, args.namespace, dry_run=True) for source, text in texts
        ]
        if args.dry_run:
            for result in checked:
                _print_warnings(result)
            print(f"dry run: {len(parsed.resources)} object(s) valid; nothing changed")
            return 0
        for source, text in texts:
            result = client.apply(text, source, args.namespace)
            for change in result["changes"]:
                print(f"{change['kind'].lower()}/{change['name']} {change['outcome']}")
            _print_warnings(result)
    except ApiError as exc:
        print_api_error(exc)
        return 1
    return 0


def _print_warnings(result: dict[str, Any]) -> None:
    for warning in result.get("warnings", []):
        print(f"warning: {warning['message']}", file=sys.stderr)


def run_delete(args: argparse.Namespace) -> int:
    client = client_of(args)
    try:
        if args.filename and args.kind:
            raise CommandError("give -f FILE, or a KIND and NAME(s), not both")
        if args.filename:
            results = [
                client.delete_text(text, source, args.namespace)
                for source, text in _read_all(args.filename)
            ]
        else:
            if not args.kind or not args.names:
                raise CommandError("give -f FILE, or a KIND and NAME(s)")
            schema = lookup(args.kind)
            if schema is None:
                raise CommandError(f"unknown kind {args.kind!r}")
            results = [client.delete_keys([(schema.kind, args.namespace, n) for n in args.names])]
    except ApiError as exc:
        print_api_error(exc)
        return 1
    missing = 0
    for result in results:
        for change in result["changes"]:
            print(f"{change['kind'].lower()}/{change['name']} {change['outcome']}")
            missing += change["outcome"] == "not found"
    return 1 if missing else 0
