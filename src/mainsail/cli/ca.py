"""``mainsail ca``: the mesh CA (Istio's Citadel) of the running control plane.

::

    mainsail ca root [-o table|pem|json|yaml]       the trust bundle (and which root signs)
    mainsail ca issue -n NS -s SA [--ttl 1h]        a key + SVID chain, through the real CSR API
    mainsail ca revoke NS/SA                        refuse SA new certificates; list its serials
    mainsail ca rotate-root [--overlap 2h]          new self-signed root; old one trusted meanwhile
    mainsail ca issued [--all]                      SVIDs issued (unexpired unless --all), revoked
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from mainsail.api.client import ApiError
from mainsail.ca.errors import CaError
from mainsail.ca.identity import parse_workload
from mainsail.ca.settings import CaSettings
from mainsail.cli.common import (
    CommandError,
    add_home_argument,
    client_of,
    dump,
    home_of,
    print_table,
)
from mainsail.config.mesh import MeshConfig
from mainsail.naming import build_spiffe_id
from mainsail.runtime.home import Home

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``30m``, ``1h30m``, ``10d`` (Go's units plus days) -> timedelta."""
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return timedelta(seconds=float(value))
    parts = _DURATION_PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 1h30m, 10d")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("ca", help="the mesh CA: roots, issue, revoke, rotate-root")
    commands = parser.add_subparsers(dest="ca_command", metavar="COMMAND", required=True)

    root = commands.add_parser("root", help="the trust bundle and the signing certificate")
    root.add_argument("-o", "--output", choices=("table", "pem", "json", "yaml"), default="table")
    root.set_defaults(run=run_root)

    issue = commands.add_parser(
        "issue", help="request an SVID through the CSR API (prints the key and the chain)"
    )
    issue.add_argument("-n", "--namespace", required=True)
    issue.add_argument("-s", "--service-account", required=True)
    issue.add_argument("--ttl", type=parse_duration, default=None, help="default: the CA's")
    issue.set_defaults(run=run_issue)

    revoke = commands.add_parser("revoke", help="refuse an identity new certificates")
    revoke.add_argument("workload", help="<namespace>/<service-account>")
    revoke.set_defaults(run=run_revoke)

    rotate = commands.add_parser("rotate-root", help="replace the self-signed root")
    rotate.add_argument(
        "--overlap",
        type=parse_duration,
        default=None,
        help="how long the old root stays trusted (default: the CA's, 2h)",
    )
    rotate.set_defaults(run=run_rotate_root)

    issued = commands.add_parser("issued", help="SVIDs issued and identities revoked")
    issued.add_argument("--all", action="store_true", help="include expired SVIDs")
    issued.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    issued.set_defaults(run=run_issued)

    for command in (root, issue, revoke, rotate, issued):
        add_home_argument(command)


def add_ca_arguments(parser: argparse.ArgumentParser) -> None:
    """The CA's flags of ``mainsail control-plane``."""
    parser.add_argument("--workload-cert-ttl", type=parse_duration, default=timedelta(hours=1))
    parser.add_argument("--max-workload-cert-ttl", type=parse_duration, default=timedelta(days=90))
    parser.add_argument(
        "--cacerts-dir",
        type=Path,
        default=None,
        help="plugged-in CA (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); "
        "default: <state-dir>/ca/cacerts if present, else a self-signed root",
    )
    parser.add_argument(
        "--root-cert-overlap",
        type=parse_duration,
        default=timedelta(hours=2),
        help="how long a rotated-out root stays trusted",
    )


def ca_settings_of(args: argparse.Namespace, home: Home, mesh: MeshConfig) -> CaSettings:
    if args.workload_cert_ttl > args.max_workload_cert_ttl:
        raise CommandError(
            f"--workload-cert-ttl {args.workload_cert_ttl} exceeds --max-workload-cert-ttl "
            f"{args.max_workload_cert_ttl}"
        )
    return CaSettings(
        state_dir=home.root / "ca",
        trust_domain=mesh.trust_domain,
        workload_ttl=args.workload_cert_ttl,
        max_workload_ttl=args.max_workload_cert_ttl,
        cacerts_dir=args.cacerts_dir,
        root_overlap=args.root_cert_overlap,
    )


def _api(args: argparse.Namespace, call: str, *params: Any) -> Any:
    try:
        return getattr(client_of(args), call)(*params)
    except ApiError as exc:
        raise CommandError(str(exc)) from exc


def run_root(args: argparse.Namespace) -> int:
    answer = _api(args, "ca_roots")
    if args.output == "pem":
        print(answer["bundle_pem"], end="")
        return 0
    if args.output in ("json", "yaml"):
        dump(answer, args.output)
        return 0
    signing = answer["signing"]["serial"]
    rows = [
        [
            r["subject"],
            r["serial"],
            r["not_before"],
            r["not_after"],
            r["fingerprint_sha256"],
            "signing" if r["serial"] == signing else "trusted",
        ]
        for r in answer["roots"]
    ]
    print_table(
        ["SUBJECT", "SERIAL", "NOT BEFORE", "NOT AFTER", "SHA-256 FINGERPRINT", "ROLE"], rows
    )
    if answer["plugged_in"]:
        inter = answer["signing"]
        print(f"signing with the plugged-in CA {inter['subject']} (serial {inter['serial']})")
    return 0


def run_issue(args: argparse.Namespace) -> int:
    # gRPC and key generation load only for this command (every CLI start imports this module).
    from mainsail.ca.client import request_certificate
    from mainsail.ca.csr import new_workload_csr
    from mainsail.ca.tokens import mint_pod_token

    home = home_of(args)
    info = home.read_json(home.control_plane_file)
    if not info or "xds" not in info:
        raise CommandError(f"no control plane is running for {home.root}")
    roots = _api(args, "ca_roots")
    key_path = home.root / "ca" / "token-signing-key.pem"
    try:
        # The platform's key: this command asks exactly as a pod's node agent would.
        token = mint_pod_token(key_path, args.namespace, args.service_account, "mainsail-cli", 300)
    except (CaError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    spiffe_id = build_spiffe_id(roots["trust_domain"], args.namespace, args.service_account)
    request = new_workload_csr(spiffe_id)
    ttl = int(args.ttl.total_seconds()) if args.ttl is not None else 0
    try:
        chain = asyncio.run(request_certificate(str(info["xds"]), request.csr_pem, ttl, token))
    except CaError as exc:
        raise CommandError(f"{spiffe_id}: {exc}") from exc
    print(request.key_pem, end="")
    for pem in chain:
        print(pem, end="" if pem.endswith("\n") else "\n")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    try:
        namespace, account = parse_workload(args.workload)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    answer = _api(args, "ca_revoke", namespace, account)
    serials = answer["serials"]
    print(f"revoked {answer['workload']}: it gets no new certificates")
    if serials:
        print("certificates already issued (valid until they expire; there is no CRL):")
        for serial in serials:
            print(f"  {serial}")
    return 0


def run_rotate_root(args: argparse.Namespace) -> int:
    overlap = args.overlap.total_seconds() if args.overlap is not None else None
    answer = _api(args, "ca_rotate_root", overlap)
    root = answer["root"]
    print(f"new root {root['subject']} serial {root['serial']} (until {root['not_after']})")
    print(f"trust bundle: {len(answer['roots'])} root(s)")
    return 0


def run_issued(args: argparse.Namespace) -> int:
    answer = _api(args, "ca_issued", args.all)
    if args.output != "table":
        dump(answer, args.output)
        return 0
    revoked = {r["workload"] for r in answer["revoked"]}
    rows = [
        [
            r["serial"],
            r["spiffe_id"],
            r["pod"] or "-",
            r["not_after"],
            "revoked" if r["workload"] in revoked else "",
        ]
        for r in answer["issued"]
    ]
    print_table(["SERIAL", "IDENTITY", "POD", "NOT AFTER", "REVOKED"], rows)
    return 0
