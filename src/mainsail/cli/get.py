"""``mainsail get KIND [NAME] [-n NS | -A] [-o yaml|json]``."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from mainsail.api.client import ApiError
from mainsail.cli.common import (
    CommandError,
    add_home_argument,
    client_of,
    dump,
    print_api_error,
    print_table,
)
from mainsail.config.schema import lookup


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("get", help="list config objects of a kind")
    parser.add_argument("kind")
    parser.add_argument("name", nargs="?")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("-A", "--all-namespaces", action="store_true")
    parser.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def _age(created: str | None) -> str:
    if not created:
        return "<unknown>"
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        return "<unknown>"
    if when.tzinfo is None:  # written without a zone (by hand): Kubernetes times are UTC
        when = when.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _columns(kind: str, item: dict[str, Any]) -> list[str]:
    spec = item.get("spec", {})
    if kind == "VirtualService":
        return [
            str(spec.get("gateways", [])).replace("'", '"'),
            str(spec.get("hosts", [])).replace("'", '"'),
        ]
    if kind in ("DestinationRule",):
        return [str(spec.get("host", ""))]
    if kind == "Gateway":
        return []
    if kind == "Secret":
        # As kubectl: the type and how many keys (the listing carries sizes, never values).
        return [str(item.get("type", "Opaque")), str(len(item.get("data", {})))]
    return []


_EXTRA_HEADERS = {
    "VirtualService": ["GATEWAYS", "HOSTS"],
    "DestinationRule": ["HOST"],
    "Secret": ["TYPE", "DATA"],
}


def run(args: argparse.Namespace) -> int:
    schema = lookup(args.kind)
    if schema is None:
        raise CommandError(f'the server doesn\'t have a resource type "{args.kind}"')
    namespace = None if args.all_namespaces else args.namespace
    try:
        items = client_of(args).list_config(schema.kind, namespace)["items"]
    except ApiError as exc:
        print_api_error(exc)
        return 1
    if args.name:
        items = [i for i in items if i["metadata"]["name"] == args.name]
        if not items:
            raise CommandError(f'{schema.plural} "{args.name}" not found')
    if args.output != "table":
        dump(items[0] if args.name else {"items": items}, args.output)
        return 0
    if not items:
        print(f"No resources found in {namespace or 'any'} namespace.")
        return 0
    headers = (["NAMESPACE"] if args.all_namespaces else []) + ["NAME"]
    headers += [*_EXTRA_HEADERS.get(schema.kind, []), "AGE"]
    rows = []
    for item in items:
        meta = item["metadata"]
        row = ([meta.get("namespace", "default")] if args.all_namespaces else []) + [meta["name"]]
        rows.append(row + _columns(schema.kind, item) + [_age(meta.get("creationTimestamp"))])
    print_table(headers, rows)
    return 0
