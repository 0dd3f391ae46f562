"""The telemetry floor: what stock Envoy's stats access logger costs for Istio's HTTP metrics when
every label it can is a constant, on one hop of two bare Envoys (a hand-written static config).

``telemetry_cost.py`` measures Mainsail's sidecars (peer exchange, stats loggers reading the
peer, access log, tracing) against telemetry off. This measures the cheapest configuration of
the one part no stock-Envoy mesh can leave out: Istio's four HTTP metrics
(``requests_total``, ``request_duration_milliseconds``, ``request_bytes``,
``response_bytes``), each with Istio's 25 labels, on the client and on the server Envoy, with
every label a constant except ``response_code``, ``response_flags`` and
``grpc_response_status`` (no peer exchange, no principals, no metadata reads):

(bare)      wrk -> client Envoy -> server Envoy -> nginx, no access logger
(one)       ``requests_total`` only, its 25 labels, on both Envoys
(istio)     the four metrics, 25 labels each, on both Envoys
(all)       ``istio`` + Istio's JSON access log to a file + Zipkin tracing at Istio's 1 %
            random sampling (spans to nginx), on both Envoys: what ``telemetry_cost.py``'s
            ``on`` asks for, at its cheapest

and then ``bare`` and ``all`` (``--paired``) paced at the same time (two wrk, 8 connections each, ~500
req/s each, as ``mtls_cost.py``'s paired rounds) for the p50 ratio at a fixed load.

The two Envoys carry the three paths (one listener and cluster each), so every path crosses the
very same processes; interleaved rounds of an unthrottled wrk (16 connections) per path give
throughput and the two Envoys' CPU per request, reported as medians with the loss against
``bare``. Envoy's stats logger formats each label and encodes its name and value into the
symbol table for each stat of each request (``access_loggers/stats/stats.cc``), so the cost
grows with labels x metrics whatever the values are.

Run: ``.venv/bin/python benchmarks/telemetry_floor.py`` (needs ``wrk`` and ``nginx``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import re
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _floor import bare_envoys, nginx_upstream, paired_p50
from hop_cost import cpu_seconds, floor_bootstrap, wait_serving
from mtls_cost import _WRK_SCRIPT
from telemetry_cost import _WRK_FLAT_OUT

from mainsail.testing.ports import free_port

CONNECTIONS = 16
PATHS = ("bare", "one", "istio", "all")
_STATS_LOGGER = "type.googleapis.com/envoy.extensions.access_loggers.stats.v3.Config"
# Istio's HTTP label set (istio-internals §5.2), as constants where a constant can stand.
_LABELS: dict[str, str] = {
    "reporter": "destination",
    "source_workload": "floor-client",
    "source_workload_namespace": "default",
    "source_principal": "spiffe://cluster.local/ns/default/sa/floor-client",
    "source_app": "floor-client",
    "source_version": "v1",
    "source_canonical_service": "floor-client",
    "source_canonical_revision": "v1",
    "source_cluster": "Kubernetes",
    "destination_workload": "floor-server",
    "destination_workload_namespace": "default",
    "destination_principal": "spiffe://cluster.local/ns/default/sa/floor-server",
    "destination_app": "floor-server",
    "destination_version": "v1",
    "destination_service": "floor-server.default.svc.cluster.local",
    "destination_service_name": "floor-server",
    "destination_service_namespace": "default",
    "destination_canonical_service": "floor-server",
    "destination_canonical_revision": "v1",
    "destination_cluster": "Kubernetes",
    "request_protocol": "http",
    "response_code": "%RESPONSE_CODE%",
    "grpc_response_status": "%GRPC_STATUS_NUMBER%",
    "response_flags": "%RESPONSE_FLAGS%",
    "connection_security_policy": "none",
}
_HISTOGRAMS = (
    ("request_duration_milliseconds", "Milliseconds", "%DURATION%"),
    ("request_bytes", "Bytes", "%DOWNSTREAM_WIRE_BYTES_RECEIVED%"),
    ("response_bytes", "Bytes", "%DOWNSTREAM_WIRE_BYTES_SENT%"),
)


def stats_logger(metrics: int) -> dict[str, Any]:
    """``requests_total`` (and with ``metrics`` 4 the three histograms), Istio's labels each."""
    tags = [{"name": name, "value_format": value} for name, value in _LABELS.items()]
    config: dict[str, Any] = {
        "@type": _STATS_LOGGER,
        "stat_prefix": "istio",
        "counters": [{"stat": {"name": "requests_total", "tags": tags}, "value_fixed": 1}],
    }
    if metrics == 4:
        config["histograms"] = [
            {"stat": {"name": name, "tags": tags}, "unit": unit, "value_format": value}
            for name, unit, value in _HISTOGRAMS
        ]
    return {"name": "envoy.access_loggers.stats", "typed_config": config}


# Istio's JSON access log fields (``xds.telemetry_logs``, istiod's default JSON format).
_JSON_LOG = {
    name: f"%{command}%"
    for name, command in (
        ("start_time", "START_TIME"),
        ("method", "REQ(:METHOD)"),
        ("path", "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)"),
        ("protocol", "PROTOCOL"),
        ("response_code", "RESPONSE_CODE"),
        ("response_flags", "RESPONSE_FLAGS"),
        ("response_code_details", "RESPONSE_CODE_DETAILS"),
        ("connection_termination_details", "CONNECTION_TERMINATION_DETAILS"),
        ("upstream_transport_failure_reason", "UPSTREAM_TRANSPORT_FAILURE_REASON"),
        ("bytes_received", "BYTES_RECEIVED"),
        ("bytes_sent", "BYTES_SENT"),
        ("duration", "DURATION"),
        ("upstream_service_time", "RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)"),
        ("x_forwarded_for", "REQ(X-FORWARDED-FOR)"),
        ("user_agent", "REQ(USER-AGENT)"),
        ("request_id", "REQ(X-REQUEST-ID)"),
        ("authority", "REQ(:AUTHORITY)"),
        ("upstream_host", "UPSTREAM_HOST"),
        ("upstream_cluster", "UPSTREAM_CLUSTER_RAW"),
        ("upstream_local_address", "UPSTREAM_LOCAL_ADDRESS"),
        ("downstream_local_address", "DOWNSTREAM_LOCAL_ADDRESS"),
        ("downstream_remote_address", "DOWNSTREAM_REMOTE_ADDRESS"),
        ("requested_server_name", "REQUESTED_SERVER_NAME"),
        ("route_name", "ROUTE_NAME"),
    )
}


def _tracing(name: str) -> dict[str, Any]:
    """Zipkin at Istio's default 1 % random sampling, spans to the ``zipkin`` cluster."""
    return {
        "random_sampling": {"value": 1},
        "provider": {
            "name": "envoy.tracers.zipkin",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                "collector_cluster": "zipkin",
                "collector_endpoint": "/api/v2/spans",
                "collector_endpoint_version": "HTTP_JSON",
                "trace_id_128bit": True,
            },
        },
        "custom_tags": [{"tag": "istio.canonical_service", "literal": {"value": name}}],
    }


def _with_path(
    bootstrap: dict[str, Any], path: str, port: int, upstream_port: int, log: Path
) -> None:
    """Add ``path``'s listener (and cluster to ``upstream_port``) beside the bootstrap's first."""
    resources = bootstrap["static_resources"]
    listener = copy.deepcopy(resources["listeners"][0])
    listener["name"] = f"{listener['name']}-{path}"
    listener["address"]["socket_address"]["port_value"] = port
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    manager["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = path
    if path != "bare":
        manager["access_log"] = [stats_logger(1 if path == "one" else 4)]
    if path == "all":
        manager["access_log"].append(
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                    "FileAccessLog",
                    "path": str(log),
                    "log_format": {"json_format": _JSON_LOG},
                },
            }
        )
        manager["tracing"] = _tracing(bootstrap["node"]["id"])
    resources["listeners"].append(listener)
    cluster = copy.deepcopy(resources["clusters"][0])
    cluster["name"] = cluster["load_assignment"]["cluster_name"] = path
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"]["port_value"] = upstream_port
    resources["clusters"].append(cluster)


def _with_zipkin(bootstrap: dict[str, Any], collector: tuple[str, int]) -> None:
    """A ``zipkin`` cluster (nginx answers the span POSTs: a collector that costs nothing)."""
    resources = bootstrap["static_resources"]
    cluster = copy.deepcopy(resources["clusters"][0])
    cluster["name"] = cluster["load_assignment"]["cluster_name"] = "zipkin"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"] = {"address": collector[0], "port_value": collector[1]}
    resources["clusters"].append(cluster)


async def flat_out(
    url: str, seconds: float, script: Path, pids: Sequence[int]
) -> tuple[float, float]:
    """(requests per second, the Envoys' CPU microseconds per request) of one unthrottled run."""
    before = sum(cpu_seconds((pid,)) for pid in pids)
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    used = sum(cpu_seconds((pid,)) for pid in pids) - before
    text = out.decode(errors="replace")
    found = re.search(r"^RESULT (\d+) (\d+) ", text, re.MULTILINE)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {url}:\n{text}")
    requests, micros = int(found.group(1)), int(found.group(2))
    return requests / (micros / 1e6), 1e6 * used / requests


async def measure(args: argparse.Namespace, workdir: Path) -> None:
    script = workdir / "flat.lua"
    script.write_text(_WRK_FLAT_OUT.format(path="/", host="floor"))
    async with nginx_upstream(workdir) as app:
        host = app[0]
        ports = {
            f"{side}-{path}": free_port(host) for side in ("client", "server") for path in PATHS
        }
        server = floor_bootstrap("server", host, free_port(host), app)
        client = floor_bootstrap("client", host, free_port(host), app)
        for path in PATHS:
            _with_path(server, path, ports[f"server-{path}"], app[1], workdir / "server.log")
            _with_path(
                client,
                path,
                ports[f"client-{path}"],
                ports[f"server-{path}"],
                workdir / "client.log",
            )
        _with_zipkin(server, app)
        _with_zipkin(client, app)
        async with bare_envoys(workdir, server, client) as pids:
            for path in PATHS:
                await wait_serving(f"http://{host}:{ports[f'client-{path}']}/")
            print(f"two Envoys (--concurrency 1), nginx 1 KB; wrk -t1 -c{CONNECTIONS} unthrottled")
            rounds: list[dict[str, tuple[float, float]]] = []
            for n in range(args.rounds):
                order = PATHS if n % 2 == 0 else PATHS[::-1]
                results: dict[str, tuple[float, float]] = {}
                for path in order:
                    url = f"http://{host}:{ports[f'client-{path}']}"
                    await flat_out(url, args.warmup, script, pids)
                    results[path] = await flat_out(url, args.seconds, script, pids)
                    rate, cpu = results[path]
                    print(
                        f"round {n + 1} {path:<6} {rate:7.0f} req/s, Envoys {cpu:5.1f} us"
                        " CPU/request",
                        flush=True,
                    )
                rounds.append(results)
            paced = workdir / "paced.lua"
            paced.write_text(_WRK_SCRIPT.format(path="/", host="floor"))
            ratios: list[float] = []
            for n in range(args.paired_rounds):
                urls = [f"http://{host}:{ports[f'client-{p}']}" for p in ("bare", args.paired)]
                bare, other = await paired_p50(
                    [(u, paced) for u in urls], args.seconds, args.warmup
                )
                ratios.append(other / bare)
                print(
                    f"paired round {n + 1} (~500 req/s each): bare p50 {bare / 1000:.3f} ms,"
                    f" {args.paired} p50 {other / 1000:.3f} ms, ratio {other / bare:.3f}",
                    flush=True,
                )
    print("\nmedians over rounds; loss and CPU against bare per round")
    for path in PATHS:
        rate = statistics.median(r[path][0] for r in rounds)
        cpu = statistics.median(r[path][1] for r in rounds)
        loss = statistics.median(1 - r[path][0] / r["bare"][0] for r in rounds)
        extra = statistics.median(r[path][1] - r["bare"][1] for r in rounds)
        print(
            f"  {path:<6} {rate:7.0f} req/s  loss {100 * loss:5.1f} %"
            f"  Envoys {cpu:5.1f} us CPU/request (+{extra:.1f} us)"
        )
    if ratios:
        shown = " ".join(f"{x:.3f}" for x in ratios)
        print(
            f"  {args.paired} / bare p50, paired: {statistics.median(ratios):.3f}"
            f"  (rounds: {shown})"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paired-rounds", type=int, default=7, help="paced, bare vs --paired")
    parser.add_argument("--paired", choices=PATHS[1:], default="all")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured run before each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mainsail-telemetry-floor-") as tmp:
        asyncio.run(measure(args, Path(tmp)))


if __name__ == "__main__":
    main()
