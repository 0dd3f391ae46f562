"""``mainsail analyze [-f FILE...] [--use-mesh] [-n NS | -A] [-o table|json|yaml]``.

Like ``istioctl analyze``: with files it runs offline on them (their Services, Deployments and
Pods are the registry); without files it analyzes the running mesh's config; ``--use-mesh`` with
files overlays them on the mesh's config (``istioctl analyze --use-kube``). Exit code 79 when a
message reaches ``--failure-threshold`` (Error by default), as istioctl's.
"""

from __future__ import annotations

import argparse
import json
import sys

from mainsail.analysis import ANALYZERS, Level, Message, analyze
from mainsail.analysis.messages import DOCS_URL
from mainsail.api.client import ApiError
from mainsail.cli.common import add_home_argument, client_of, dump, print_api_error
from mainsail.config.base import Resource
from mainsail.config.errors import ConfigError
from mainsail.config.parse import DocumentOrigin, load_paths, parse_documents

# istioctl's exit code when analyzers found issues at or above the failure threshold.
EXIT_ISSUES_FOUND = 79

_LEVELS = {level.value: level for level in Level}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "analyze", help="find problems across config objects (like istioctl analyze)"
    )
    parser.add_argument(
        "-f", "--filename", action="append", default=[], help="file or directory (repeatable)"
    )
    parser.add_argument(
        "--use-mesh",
        action="store_true",
        help="with -f: overlay the files on the running mesh's config instead of running offline",
    )
    parser.add_argument("-n", "--namespace", default="default", help="namespace to report on")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="report on all")
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    parser.add_argument(
        "--output-threshold", choices=tuple(_LEVELS), default="Info", help="lowest level shown"
    )
    parser.add_argument(
        "--failure-threshold",
        choices=tuple(_LEVELS),
        default="Error",
        help=f"lowest level that makes the exit code {EXIT_ISSUES_FOUND}",
    )
    parser.add_argument(
        "-L", "--list-analyzers", action="store_true", help="list the analyzers and exit"
    )
    add_home_argument(parser)
    parser.set_defaults(run=run)


def _from_mesh(args: argparse.Namespace) -> tuple[Resource, ...] | None:
    try:
        items = client_of(args).list_config()["items"]
    except ApiError as exc:
        print_api_error(exc)
        return None
    text = "\n---\n".join(json.dumps(item) for item in items)
    return parse_documents(text, source="mesh").resources


def _target(args: argparse.Namespace) -> str:
    return "all namespaces" if args.all_namespaces else f"namespace: {args.namespace}"


def run(args: argparse.Namespace) -> int:
    if args.list_analyzers:
        print(f"Available analyzers ({len(ANALYZERS)}):")
        for analyzer in ANALYZERS:
            print(f"* {analyzer.name}:\n    {analyzer.description}")
        return 0
    resources: dict[tuple[str, str, str], Resource] = {}
    origins: dict[tuple[str, str, str], DocumentOrigin] = {}
    read_errors: tuple[ConfigError, ...] = ()
    documents: tuple[DocumentOrigin, ...] = ()
    if not args.filename or args.use_mesh:
        from_mesh = _from_mesh(args)
        if from_mesh is None:
            return 1
        resources.update((r.key, r) for r in from_mesh)
    if args.filename:
        parsed = load_paths(args.filename)
        read_errors, documents = parsed.errors, parsed.documents
        for resource, origin in zip(parsed.resources, parsed.origins, strict=True):
            resources[resource.key] = resource
            origins[resource.key] = origin
    messages = analyze(
        resources.values(),
        origins=origins,
        read_errors=read_errors,
        documents=documents,
        namespace=None if args.all_namespaces else args.namespace,
    )
    shown = [m for m in messages if m.level.rank >= _LEVELS[args.output_threshold].rank]
    _print(shown, args)
    failing = _LEVELS[args.failure_threshold].rank
    if any(m.level.rank >= failing for m in messages):
        if args.output == "table":
            print(
                f"Error: Analyzers found issues when analyzing {_target(args)}.\n"
                f"See {DOCS_URL} for more information about causes and resolutions.",
                file=sys.stderr,
            )
        return EXIT_ISSUES_FOUND
    return 0


def _print(messages: list[Message], args: argparse.Namespace) -> None:
    if args.output != "table":
        dump([m.to_dict() for m in messages], args.output)
        return
    for message in messages:
        print(message)
    if messages:
        return
    print(f"\u2714 No validation issues found when analyzing {_target(args)}.", file=sys.stderr)
