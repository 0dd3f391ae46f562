"""``mainsail convert -f OLD.yaml [-f services.yaml] [--root-namespace NS]``.

Prints the modern (``security.istio.io``) YAML of every legacy ``authentication.istio.io`` and
``rbac.istio.io`` document in the files, following Istio's migration rules
(``config.legacy.convert``). Policy targets name Services: they come from the files and, when a
control plane is running, from the mesh (the files win). What cannot be carried over goes to
stderr as notes; the exit code is 1 when a note is an error or the input is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from mainsail.api.client import ApiError
from mainsail.cli.common import CommandError, add_home_argument, client_of, describe
from mainsail.config.base import Resource
from mainsail.config.kube.service import Service
from mainsail.config.legacy.convert import convert_legacy, is_legacy
from mainsail.config.legacy.notes import index_services
from mainsail.config.parse import load_paths, parse_documents
from mainsail.config.validation import validate_all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "convert",
        help="convert the book's v1alpha1 security policies (Policy, MeshPolicy, RBAC) to "
        "PeerAuthentication, RequestAuthentication and AuthorizationPolicy",
    )
    parser.add_argument(
        "-f", "--filename", action="append", required=True, help="file or directory (repeatable)"
    )
    parser.add_argument(
        "--root-namespace",
        default="istio-system",
        help="the mesh's root namespace (meshConfig.rootNamespace) for mesh-wide policies",
    )
    add_home_argument(parser)
    parser.set_defaults(run=run)


def _mesh_services(args: argparse.Namespace) -> list[Resource]:
    """The running mesh's Services, or nothing when no control plane runs."""
    try:
        client = client_of(args)
    except CommandError:
        return []
    try:
        items = client.list_config(kind="Service")["items"]
    except (ApiError, OSError) as exc:
        print(f"note: could not read Services from the mesh: {exc}", file=sys.stderr)
        return []
    text = "\n---\n".join(json.dumps(item) for item in items)
    return [r for r in parse_documents(text, source="mesh").resources if isinstance(r, Service)]


def _document(resource: Resource) -> dict[str, Any]:
    wire = resource.to_wire()
    # An empty spec is meaningful here (an ALLOW policy with it denies everything): show it.
    wire.setdefault("spec", {})
    return wire


def run(args: argparse.Namespace) -> int:
    parsed = load_paths(args.filename)
    problems = [*parsed.errors, *validate_all(parsed)]
    for problem in problems:
        print(describe(problem), file=sys.stderr)
    if any(p.is_error for p in problems):
        return 1
    legacy = [r for r in parsed.resources if is_legacy(r)]
    if not legacy:
        print(
            f"error: no authentication.istio.io or rbac.istio.io document in "
            f"{', '.join(args.filename)}",
            file=sys.stderr,
        )
        return 1
    services = index_services(_mesh_services(args))
    services.update(index_services(parsed.resources))
    result = convert_legacy(parsed.resources, args.root_namespace, services)
    documents = [_document(r) for r in result.resources]
    text = yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True, width=1000)
    sys.stdout.write(text)
    for note in result.notes:
        print(note, file=sys.stderr)
    return 1 if result.errors else 0
