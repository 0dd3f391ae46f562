"""``mainsail apply -f`` and ``mainsail delete -f | KIND NAME``: change the running mesh's config.

A batch with any error changes nothing (the control plane checks it whole).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mainsail.api.client import ApiError
from mainsail.cli.common import CommandError, add_home_argument, api_errors, client_of
from mainsail.config.parse import load_paths
from mainsail.config.schema import lookup


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
        files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            try:
                texts.append((str(file), file.read_text(encoding="utf-8")))
            except OSError as exc:
                raise CommandError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    return texts


def run_apply(args: argparse.Namespace) -> int:
    # Check every file first so that a bad one anywhere changes nothing anywhere.
    parsed = load_paths(args.filename, args.namespace)
    if parsed.errors:
        for error in parsed.errors:
            print(f"error: {error}")
        return 1
    client = client_of(args)
    texts = _read_all(args.filename)
    try:
        for source, text in texts:
            client.apply(text, source, args.namespace, dry_run=True)
        if args.dry_run:
            print("dry run: no errors")
            return 0
        for source, text in texts:
            result = client.apply(text, source, args.namespace)
            for change in result["changes"]:
                print(f"{change['kind'].lower()}/{change['name']} {change['outcome']}")
            for warning in result.get("warnings", []):
                print(f"warning: {warning['message']}")
    except ApiError as exc:
        print(f"error: {api_errors(exc)}")
        return 1
    return 0


def run_delete(args: argparse.Namespace) -> int:
    client = client_of(args)
    try:
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
        print(f"error: {api_errors(exc)}")
        return 1
    missing = 0
    for result in results:
        for change in result["changes"]:
            print(f"{change['kind'].lower()}/{change['name']} {change['outcome']}")
            missing += change["outcome"] == "not found"
    return 1 if missing else 0
