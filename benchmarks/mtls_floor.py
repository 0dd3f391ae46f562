"""The mTLS floor: what TLS alone, and TLS with Istio's x-forwarded-client-cert, cost one hop of
two bare Envoys (a hand-written static config), measured paired as ``mtls_cost.py`` does.

``mtls_cost.py`` measures Mainsail's sidecars; this measures the same hop without Mainsail, so
its ratio can be told apart from what Envoy itself pays for the features:

(plain)   wrk -> client Envoy -> server Envoy -> nginx, plaintext between the Envoys
(tls)     the same over TLS 1.3 with ECDSA P-256 certificates both ways (client certificate
          required), as the mesh's ISTIO_MUTUAL
(xfcc)    ``tls`` whose server HCM also sets x-forwarded-client-cert as istiod's sidecar inbound
          does (``APPEND_FORWARD``; subject, URI and DNS of the peer certificate)

The two Envoys carry all three (one listener and cluster each), so every path crosses the very
same processes. Each round runs ``plain`` against one TLS path at the same time (two wrk
processes, 8 connections each, one request per ~15 ms per connection: ~500 req/s each),
alternating ``tls`` and ``xfcc``; the per-round p50 ratios against the paired ``plain`` are
reported as medians.

Run: ``.venv/bin/python benchmarks/mtls_floor.py`` (needs ``wrk`` and ``nginx``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _floor import bare_envoys, nginx_upstream, paired_p50
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from hop_cost import floor_bootstrap, wait_serving
from mtls_cost import _WRK_SCRIPT

from mainsail.ca.pki import cert_pem, key_pem, new_p256_key, self_signed_root
from mainsail.testing.ports import free_port

CONNECTIONS = 8
_TLS = "envoy.transport_sockets.tls"
_TLS_TYPES = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
_XFCC = {
    "forward_client_cert_details": "APPEND_FORWARD",
    "set_current_client_cert_details": {"subject": True, "uri": True, "dns": True},
}


def write_certificates(directory: Path) -> None:
    """A root and one SPIFFE leaf each for the client and the server Envoy."""
    now = dt.datetime.now(dt.UTC)
    root_key = new_p256_key()
    root = self_signed_root(root_key, "mtls-floor", now, dt.timedelta(days=1))
    (directory / "root.pem").write_text(cert_pem(root))
    for who in ("client", "server"):
        key = new_p256_key()
        san = f"spiffe://cluster.local/ns/default/sa/{who}"
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]), critical=True
            )
            .sign(root_key, hashes.SHA256())
        )
        (directory / f"{who}.pem").write_text(cert_pem(leaf))
        (directory / f"{who}-key.pem").write_bytes(key_pem(key))


def _tls_context(directory: Path, who: str, alpn: Sequence[str]) -> dict[str, Any]:
    return {
        "tls_params": {
            "tls_minimum_protocol_version": "TLSv1_2",
            "tls_maximum_protocol_version": "TLSv1_3",
        },
        "tls_certificates": [
            {
                "certificate_chain": {"filename": str(directory / f"{who}.pem")},
                "private_key": {"filename": str(directory / f"{who}-key.pem")},
            }
        ],
        "validation_context": {"trusted_ca": {"filename": str(directory / "root.pem")}},
        "alpn_protocols": list(alpn),
    }


def bootstraps(
    directory: Path, host: str, app: tuple[str, int], ports: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(server, client) bootstraps: listeners ``<path>`` on each Envoy for the three paths."""
    server = floor_bootstrap("server", host, ports["server-plain"], app)
    client = floor_bootstrap("client", host, ports["client-plain"], (host, ports["server-plain"]))
    plain_listener = server["static_resources"]["listeners"][0]
    plain_cluster = client["static_resources"]["clusters"][0]
    for path in ("tls", "xfcc"):
        listener = copy.deepcopy(plain_listener)
        listener["name"] = f"server-{path}"
        listener["address"]["socket_address"]["port_value"] = ports[f"server-{path}"]
        chain = listener["filter_chains"][0]
        chain["transport_socket"] = {
            "name": _TLS,
            "typed_config": {
                "@type": _TLS_TYPES + "DownstreamTlsContext",
                "require_client_certificate": True,
                "common_tls_context": _tls_context(directory, "server", ("h2", "http/1.1")),
            },
        }
        if path == "xfcc":
            chain["filters"][0]["typed_config"].update(_XFCC)
        server["static_resources"]["listeners"].append(listener)

        entry = copy.deepcopy(client["static_resources"]["listeners"][0])
        entry["name"] = f"client-{path}"
        entry["address"]["socket_address"]["port_value"] = ports[f"client-{path}"]
        manager = entry["filter_chains"][0]["filters"][0]["typed_config"]
        manager["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = path
        client["static_resources"]["listeners"].append(entry)
        cluster = copy.deepcopy(plain_cluster)
        cluster["name"] = cluster["load_assignment"]["cluster_name"] = path
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"]["port_value"] = ports[f"server-{path}"]
        cluster["transport_socket"] = {
            "name": _TLS,
            "typed_config": {
                "@type": _TLS_TYPES + "UpstreamTlsContext",
                "sni": "outbound_.8080_._.floor.default.svc.cluster.local",
                "common_tls_context": _tls_context(
                    directory, "client", ("istio-peer-exchange", "istio")
                ),
            },
        }
        client["static_resources"]["clusters"].append(cluster)
    return server, client


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    write_certificates(workdir)
    script = workdir / "paced.lua"
    script.write_text(_WRK_SCRIPT.format(path="/", host="floor"))
    async with nginx_upstream(workdir) as app:
        host = app[0]
        names = [
            f"{side}-{path}" for side in ("client", "server") for path in ("plain", "tls", "xfcc")
        ]
        ports = {name: free_port(host) for name in names}
        server, client = bootstraps(workdir, host, app, ports)
        async with bare_envoys(workdir, server, client):
            for path in ("plain", "tls", "xfcc"):
                await wait_serving(f"http://{host}:{ports[f'client-{path}']}/")
            print(f"two Envoys (--concurrency 1), nginx 1 KB; paired wrk -t1 -c{CONNECTIONS} each")
            ratios: dict[str, list[float]] = {"tls": [], "xfcc": []}
            for n in range(args.rounds):
                path = ("tls", "xfcc")[n % 2]
                urls = [f"http://{host}:{ports[f'client-{p}']}" for p in ("plain", path)]
                plain, other = await paired_p50(
                    [(url, script) for url in urls], args.seconds, args.warmup, CONNECTIONS
                )
                ratios[path].append(other / plain)
                print(
                    f"round {n + 1}: plain p50 {plain / 1000:.3f} ms, {path} p50"
                    f" {other / 1000:.3f} ms, ratio {other / plain:.3f}",
                    flush=True,
                )
    print("\n/ plain, paired (median of per-round p50 ratios):")
    for path, values in ratios.items():
        shown = " ".join(f"{x:.3f}" for x in values)
        print(f"  {path:<5} {statistics.median(values):.3f}  (rounds: {shown})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=14, help="alternating tls and xfcc")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured run before each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-mtls-floor-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
