"""``mainsail control-plane`` and ``mainsail agent``: the long-running processes (started by
``up``/``demo``, or by hand on other machines)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from mainsail.ca.errors import CaStateError
from mainsail.cli.ca import add_ca_arguments, ca_settings_of
from mainsail.cli.common import CommandError, add_home_argument, home_of
from mainsail.sources.store import StoreFileError

if TYPE_CHECKING:
    from mainsail.agent.settings import NodeAgentSettings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    control = sub.add_parser("control-plane", help="run the control plane (Pilot, Galley, API)")
    add_home_argument(control)
    control.add_argument("--host", default="127.0.0.1")
    control.add_argument("--xds-port", type=int, default=15010)
    control.add_argument(
        "--xds-tls-port",
        type=int,
        help="xDS and the CA over TLS, as istiod's 15012 (default 15012, any free port when "
        "--xds-port is 0; 0: any free; -1: not served)",
    )
    control.add_argument("--api-port", type=int, default=15014)
    control.add_argument("--mesh-config", type=Path, help="MeshConfig YAML")
    add_dashboard_arguments(control, port_default=None)
    add_ca_arguments(control)
    control.set_defaults(run=run_control_plane)
    agent = sub.add_parser("agent", help="run the node agent (one Envoy per local pod)")
    add_home_argument(agent)
    agent.add_argument(
        "--xds-address",
        default="127.0.0.1:15010",
        help="host:port of the control plane (https://host:port: over TLS, as --xds-tls)",
    )
    agent.add_argument(
        "--xds-tls",
        action="store_true",
        help="TLS to the control plane (its --xds-tls-port, 15012) for CSRs and every Envoy",
    )
    agent.add_argument(
        "--xds-root-cert",
        type=Path,
        help="roots the control plane's certificate must chain to "
        "(default <state dir>/var/run/secrets/istio/root-cert.pem, written by the control plane)",
    )
    agent.add_argument(
        "--xds-san",
        default="istiod.istio-system.svc",
        help="the SAN the control plane's certificate must carry (Istio's ISTIOD_SAN)",
    )
    agent.add_argument("--xds-api", choices=("DELTA_GRPC", "GRPC"), default="DELTA_GRPC")
    agent.add_argument(
        "--ca-address", help="the mesh CA, host:port (default: the xDS address, as istiod)"
    )
    agent.add_argument(
        "--cert-ttl", type=int, default=3600, help="seconds each SVID is requested for"
    )
    agent.add_argument("--trust-domain", default="cluster.local", help="MeshConfig trustDomain")
    agent.set_defaults(run=run_agent)


def add_dashboard_arguments(parser: argparse.ArgumentParser, port_default: int | None) -> None:
    """The dashboard's flags (``control-plane``, ``up``, ``demo``); docs/dashboard.md."""
    parser.add_argument(
        "--dashboard-port",
        type=int,
        default=port_default,
        help="the dashboard's port (default 20001, Kiali's; taken: any free one; 0: any free)",
    )
    parser.add_argument(
        "--dashboard-scrape-interval",
        type=float,
        default=5.0,
        help="seconds between the dashboard's scrapes of every Envoy (default 5)",
    )
    parser.add_argument(
        "--prometheus-url",
        help="a Prometheus scraping the mesh: the dashboard's charts read history from it",
    )


def check_dashboard_arguments(args: argparse.Namespace) -> None:
    if args.dashboard_port is not None and not 0 <= args.dashboard_port <= 65535:
        raise CommandError(f"--dashboard-port {args.dashboard_port}: want 0-65535")
    if args.dashboard_scrape_interval <= 0:
        raise CommandError(
            f"--dashboard-scrape-interval {args.dashboard_scrape_interval}: want more than 0 seconds"
        )
    url = args.prometheus_url
    if url is not None and not url.startswith(("http://", "https://")):
        raise CommandError(f"--prometheus-url {url!r}: want an http:// or https:// URL")


def run_control_plane(args: argparse.Namespace) -> int:
    from mainsail.runtime.control_plane import (
        ControlPlaneSettings,
        load_mesh_config,
    )
    from mainsail.runtime.control_plane import (
        run_control_plane as run,
    )

    check_dashboard_arguments(args)
    try:
        mesh = load_mesh_config(args.mesh_config)
    except (OSError, ValueError) as exc:
        raise CommandError(f"--mesh-config {args.mesh_config}: {exc}") from exc
    settings = ControlPlaneSettings(
        home=home_of(args),
        host=args.host,
        xds_port=args.xds_port,
        xds_tls_port=_xds_tls_port(args.xds_tls_port, args.xds_port),
        api_port=args.api_port,
        mesh=mesh,
        ca=ca_settings_of(args, home_of(args), mesh),
        dashboard_port=_dashboard_port(args.dashboard_port, args.xds_port),
        dashboard_scrape_interval=args.dashboard_scrape_interval,
        prometheus_url=args.prometheus_url,
    )
    try:
        asyncio.run(run(settings))
    except (StoreFileError, CaStateError) as exc:
        raise CommandError(str(exc)) from exc
    return 0


def _xds_tls_port(wanted: int | None, xds_port: int) -> int | None:
    """A control plane started on any free xDS port (tests, several meshes on one machine)
    takes any free TLS port too, rather than all competing for 15012."""
    if wanted is None:
        return 0 if xds_port == 0 else 15012
    return None if wanted < 0 else wanted


def _dashboard_port(wanted: int | None, xds_port: int) -> int:
    """As for the TLS port: on any free xDS port, any free dashboard port (not Kiali's 20001)."""
    if wanted is None:
        return 0 if xds_port == 0 else 20001
    return wanted


def run_agent(args: argparse.Namespace) -> int:
    from mainsail.agent.node_agent import run_node_agent

    asyncio.run(run_node_agent(agent_settings_of(args)))
    return 0


def agent_settings_of(args: argparse.Namespace) -> NodeAgentSettings:
    """``mainsail agent``'s flags as settings; ``--xds-address https://host:port`` means TLS."""
    from mainsail.agent.settings import NodeAgentSettings

    address, tls = args.xds_address, args.xds_tls
    scheme, found, rest = address.partition("://")
    if found:
        if scheme not in ("https", "http", "grpc", "grpcs"):
            raise CommandError(
                f"--xds-address {address!r}: scheme {scheme!r}, want https:// (TLS) or http://"
            )
        address, tls = rest.rstrip("/"), tls or scheme in ("https", "grpcs")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise CommandError(f"--xds-address {args.xds_address!r}: want host:port")
    if args.xds_root_cert is not None and not args.xds_root_cert.is_file():
        raise CommandError(f"--xds-root-cert {args.xds_root_cert}: no such file")
    if args.ca_address is not None and not args.ca_address.rpartition(":")[2].isdigit():
        raise CommandError(f"--ca-address {args.ca_address!r}: want host:port")
    if args.cert_ttl < 1:
        raise CommandError(f"--cert-ttl {args.cert_ttl}: want a positive number of seconds")
    return NodeAgentSettings(
        state_dir=home_of(args).root,
        xds_host=host,
        xds_port=int(port),
        xds_api_type=args.xds_api,
        xds_tls=tls,
        xds_root_cert=args.xds_root_cert,
        xds_san=args.xds_san,
        ca_address=args.ca_address,
        cert_ttl_s=args.cert_ttl,
        trust_domain=args.trust_domain,
    )
