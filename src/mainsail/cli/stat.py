"""``mainsail stat``: golden signals of the live mesh, like ``linkerd viz stat``.

Every pod's Envoy is scraped twice (``:15090/stats/prometheus``), ``--window`` seconds apart
(10 by default: Envoy publishes histograms at its 5 s stats flush, counters at once);
the difference of Istio's standard metrics as the serving side reports them
(``reporter="destination"``) gives, per service or workload: requests per second, success rate
(responses that are not 5xx) and p50/p90/p99 latency from the
``istio_request_duration_milliseconds`` buckets (interpolated as ``histogram_quantile`` does).
Python only reads what Envoy counted; nothing sits on the request path.
"""

from __future__ import annotations

import argparse
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mainsail.cli.common import CommandError, add_home_argument, dump, home_of, print_table
from mainsail.platform.pod import PodSpec
from mainsail.platform.pod_store import PodStore
from mainsail.telemetry.golden_signals import GoldenSignals, golden_signals
from mainsail.telemetry.prometheus_text import Sample, parse_prometheus_text

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_GROUPS = {
    "service": ("destination_service_namespace", "destination_service_name"),
    "workload": ("destination_workload_namespace", "destination_workload"),
}
_KINDS = {
    "service": "service",
    "services": "service",
    "svc": "service",
    "workload": "workload",
    "workloads": "workload",
    "deploy": "workload",
    "deployment": "workload",
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "stat", help="golden signals per service or workload: rps, success rate, latencies"
    )
    parser.add_argument("kind", choices=sorted(_KINDS), help="service or workload")
    parser.add_argument("name", nargs="?", help="only this service or workload")
    parser.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    parser.add_argument(
        "-w",
        "--window",
        type=float,
        default=10.0,
        help="seconds between the two scrapes (10; latencies need more than Envoy's 5 s stats"
        " flush)",
    )
    parser.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    add_home_argument(parser)
    parser.set_defaults(run=run)


def _scrape(pod: PodSpec) -> list[Sample]:
    url = f"http://{pod.ip}:{pod.proxy_ports.prometheus}/stats/prometheus"
    try:
        with _NO_PROXY.open(url, timeout=10) as response:
            body: bytes = response.read()
    except (OSError, urllib.error.URLError):
        return []  # a pod whose Envoy is gone adds nothing to the window
    return parse_prometheus_text(body.decode(errors="replace"))


def scrape_all(pods: list[PodSpec]) -> list[Sample]:
    if not pods:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(pods))) as pool:
        return [s for found in pool.map(_scrape, pods) for s in found]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms" if value >= 10 else f"{value:.1f}ms"


def _row(signals: GoldenSignals) -> list[object]:
    success = "-" if signals.success is None else f"{100 * signals.success:.2f}%"
    return [
        *signals.key,
        f"{signals.requests:.0f}",
        success,
        f"{signals.rps:.1f}",
        _ms(signals.p50),
        _ms(signals.p90),
        _ms(signals.p99),
    ]


def _as_dict(signals: GoldenSignals) -> dict[str, Any]:
    namespace, name = signals.key
    return {
        "namespace": namespace,
        "name": name,
        "requests": signals.requests,
        "rps": signals.rps,
        "success_rate": signals.success,
        "latency_ms_p50": signals.p50,
        "latency_ms_p90": signals.p90,
        "latency_ms_p99": signals.p99,
    }


def run(args: argparse.Namespace) -> int:
    if args.window <= 0:
        raise CommandError(f"--window must be more than 0 seconds, not {args.window}")
    pods = list(PodStore(home_of(args).platform).list())
    if not pods:
        raise CommandError("no pods: start a mesh with `mainsail up -f …` or `mainsail demo`")
    before = scrape_all(pods)
    started = time.monotonic()
    time.sleep(args.window)  # the measuring window itself
    after = scrape_all(pods)
    kind = _KINDS[args.kind]
    rows = [
        s
        for s in golden_signals(before, after, time.monotonic() - started, _GROUPS[kind])
        if (args.all_namespaces or s.key[0] == args.namespace)
        and (args.name is None or s.key[1] == args.name)
        and s.key[1] != "unknown"
    ]
    if args.name and not rows:
        raise CommandError(
            f"no requests to {kind} {args.name!r} in namespace {args.namespace!r} "
            f"during the last {args.window:g}s"
        )
    if args.output != "table":
        dump([_as_dict(s) for s in rows], args.output)
        return 0
    print_table(
        ["NAMESPACE", kind.upper(), "REQUESTS", "SUCCESS", "RPS", "P50", "P90", "P99"],
        [_row(s) for s in rows],
    )
    return 0
