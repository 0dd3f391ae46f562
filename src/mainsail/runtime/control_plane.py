"""The control-plane process: config store + Pilot (snapshot, translation, ADS) + HTTP API.

Reads its settings once; every store change rebuilds the MeshSnapshot and hands the ADS server a
new generator (the push itself is debounced there).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import grpc
import yaml
from aiohttp import web

from mainsail.ads.server import AdsServer
from mainsail.agent.bootstrap import GRPC_SERVER_OPTIONS
from mainsail.api.server import build_app
from mainsail.ca.server import add_to_server as add_ca_to_server
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.serving import ROOT_CERT_PATH, istiod_dns_names, serving_host_ips
from mainsail.ca.settings import CaSettings
from mainsail.ca.tls_port import SecureXdsPort
from mainsail.ca.xds_peers import XdsPeers
from mainsail.config.errors import ConfigError
from mainsail.config.mesh import MeshConfig
from mainsail.config.parse import ParseResult
from mainsail.config.validation import validate_all
from mainsail.dashboard.app import GRAPH_ANSWERS, build_dashboard_app
from mainsail.dashboard.metrics_window import MetricsWindow
from mainsail.dashboard.scraper import MetricsScraper, stop_task
from mainsail.dashboard.sources import DashboardSources
from mainsail.platform.pod_store import PodStore
from mainsail.runtime.home import Home
from mainsail.runtime.jwks import JwksFetcher, wanted_keys
from mainsail.runtime.trace_collector import TraceStore, collector_app, with_builtin_collector
from mainsail.snapshot.incremental import SnapshotBasis, snapshot_basis
from mainsail.snapshot.mesh_snapshot import MeshSnapshot, build_snapshot
from mainsail.snapshot.proxy import ProxyNode
from mainsail.sources.store import ConfigStore
from mainsail.xds.generate import Translator
from mainsail.xds.resources import ProxyConfig
from mainsail.xds.tcp_outbound import local_service_env
from mainsail.xds.translation_cache import TranslationCache

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlPlaneSettings:
    home: Home
    host: str = "127.0.0.1"
    xds_port: int = 15010
    # istiod's 15012: the same gRPC services over TLS (``ca.tls_port``); None: not served.
    xds_tls_port: int | None = 15012
    xds_tls_cert_ttl: timedelta = timedelta(hours=24)
    api_port: int = 15014
    # The built-in trace collector (``runtime.trace_collector``); 0: any free port.
    trace_port: int = 0
    mesh: MeshConfig = field(default_factory=MeshConfig)
    debounce_after: float = 0.1
    debounce_max: float = 10.0
    # The mesh CA; None: defaults under ``<home>/ca`` with the MeshConfig's trust domain.
    ca: CaSettings | None = None
    # The dashboard (``mainsail.dashboard``): its port (Kiali's 20001; 0: any free), how often
    # it scrapes every Envoy, how much history it keeps, and a Prometheus to read series from.
    dashboard_port: int = 20001
    dashboard_scrape_interval: float = 5.0
    dashboard_history: float = 1800.0
    prometheus_url: str | None = None


def load_mesh_config(path: Path | None) -> MeshConfig:
    if path is None:
        return MeshConfig()
    return MeshConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def default_ca_settings(home: Home, mesh: MeshConfig) -> CaSettings:
    return CaSettings(state_dir=home.root / "ca", trust_domain=mesh.trust_domain)


def validate_config(parsed: ParseResult) -> tuple[ConfigError, ...]:
    return validate_all(parsed)


async def run_control_plane(
    settings: ControlPlaneSettings, stop: asyncio.Event | None = None
) -> None:
    stop = stop or asyncio.Event()
    home = settings.home
    # The trace collector first: the mesh's default tracing provider is its address.
    trace_store = TraceStore()
    traces = web.AppRunner(collector_app(trace_store), access_log=None)
    await traces.setup()
    traces_site = web.TCPSite(traces, settings.host, settings.trace_port)
    await traces_site.start()
    trace_port = _bound_port(traces_site)
    settings = replace(
        settings, mesh=with_builtin_collector(settings.mesh, settings.host, trace_port)
    )
    store = ConfigStore(home.store_file, validator=validate_config)
    # Translated pieces reused across snapshots (content-keyed; see ``xds.translation_cache``).
    cache = TranslationCache()
    chain = SnapshotChain()

    ads: AdsServer | None = None

    def push() -> None:
        if ads is not None:  # until it exists, its first generator reads the keys itself
            ads.config_changed(generator_for(store, settings.mesh, cache, jwks.known(), chain))
            settle_heap()

    # RequestAuthentication keys are fetched here, not by Envoy (istiod's default); a change
    # naming a new jwksUri is pushed once its first fetch is done, as istiod's push would wait,
    # and the first config (also after a restart) waits for the keys the store names.
    jwks = JwksFetcher(push)
    jwks.want(wanted_keys(store.objects(), settings.mesh.root_namespace))
    await jwks.first_attempts()
    ads = AdsServer(
        generator_for(store, settings.mesh, cache, jwks.known(), chain),
        debounce_after=settings.debounce_after,
        debounce_max=settings.debounce_max,
        on_idle=settle_heap,
    )

    def store_changed() -> None:
        if jwks.want(wanted_keys(store.objects(), settings.mesh.root_namespace)):
            push()

    store.on_change(store_changed)
    settle_heap()

    # Citadel: Istio's CSR API on the same gRPC port as ADS, as istiod serves both on 15010,
    # and both again behind TLS on the secure port (15012).
    authority = CertificateAuthority(settings.ca or default_ca_settings(home, settings.mesh))
    server = grpc.aio.server(options=[("grpc.keepalive_time_ms", 30000), *GRPC_SERVER_OPTIONS])
    # The TLS port's relayed connections and their client identities, for the ADS servicer.
    xds_peers = XdsPeers()
    ads.add_to_server(server, xds_peers)
    add_ca_to_server(authority, server)
    xds_port = server.add_insecure_port(f"{settings.host}:{settings.xds_port}")
    await server.start()
    secure: SecureXdsPort | None = None
    if settings.xds_tls_port is not None:
        secure = SecureXdsPort(
            authority,
            host=settings.host,
            port=settings.xds_tls_port,
            upstream=(settings.host, xds_port),
            root_cert_file=home.root / ROOT_CERT_PATH,
            dns_names=istiod_dns_names(),
            ip_addresses=serving_host_ips(settings.host),
            lifetime=settings.xds_tls_cert_ttl,
            peers=xds_peers,
        )
        await secure.start()

    def service_env(
        namespace: str, ip: str, labels: dict[str, str], reserved: frozenset[int]
    ) -> dict[str, str]:
        snapshot = build_snapshot(store.objects(), settings.mesh)
        return local_service_env(snapshot, namespace, ip, labels, reserved)

    runner = web.AppRunner(
        build_app(store, lambda: _status_rows(ads), service_env, authority), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.api_port)
    await site.start()
    api_port = _bound_port(site)
    dashboard, dashboard_port, scraper = await _start_dashboard(
        settings, store, trace_store, lambda: _status_rows(ads), chain
    )
    home.write_json(
        home.control_plane_file,
        {
            "pid": os.getpid(),
            "api": f"http://{settings.host}:{api_port}",
            "xds": f"{settings.host}:{xds_port}",
            **(
                {
                    "xds_tls": f"{settings.host}:{secure.port}",
                    "root_cert": str(secure.root_cert_file),
                }
                if secure is not None
                else {}
            ),
            "traces": f"http://{settings.host}:{trace_port}",
            "dashboard": f"http://{settings.host}:{dashboard_port}",
        },
    )
    log.info(
        "control plane: xDS on %s:%d, API on %s:%d",
        settings.host,
        xds_port,
        settings.host,
        api_port,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await jwks.close()
        await stop_task(scraper)
        await dashboard.cleanup()
        await runner.cleanup()
        await traces.cleanup()
        if secure is not None:
            await secure.close()
        await server.stop(grace=1.0)


async def _start_dashboard(
    settings: ControlPlaneSettings,
    store: ConfigStore,
    trace_store: TraceStore,
    status_rows: Callable[[], list[dict[str, object]]],
    chain: SnapshotChain,
) -> tuple[web.AppRunner, int, asyncio.Task[None]]:
    """The dashboard's app on its own port and its scrape loop (``mainsail.dashboard``)."""
    window = MetricsWindow(
        history=settings.dashboard_history, interval=settings.dashboard_scrape_interval
    )
    pods = PodStore(settings.home.platform)
    snapshots: dict[int, MeshSnapshot] = {}

    def snapshot() -> MeshSnapshot:
        # The last push's snapshot when it is of the store as it is now; else built here, once
        # per revision (a push can wait for JWKS keys).
        pushed = chain.last
        if pushed is not None and chain.revision == store.revision:
            return pushed.snapshot
        found = snapshots.get(store.revision)
        if found is None:
            snapshots.clear()
            found = snapshots[store.revision] = build_snapshot(store.objects(), settings.mesh)
        return found

    sources = DashboardSources(
        objects=store.objects,
        snapshot=snapshot,
        mesh=settings.mesh,
        pods=pods.list,
        proxy_status=status_rows,
        traces=trace_store,
        window=window,
        prometheus_url=settings.prometheus_url,
    )
    app = build_dashboard_app(sources)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.dashboard_port)
    await site.start()
    scraper = MetricsScraper(
        window,
        pods.list,
        interval=settings.dashboard_scrape_interval,
        after_round=app[GRAPH_ANSWERS].refresh,
    )
    return runner, _bound_port(site), asyncio.ensure_future(scraper.run())


@dataclass(slots=True)
class SnapshotChain:
    """The last snapshot built for a push: the next one is rebuilt from it when a change
    touched only VirtualServices and DestinationRules (``snapshot.incremental``)."""

    last: SnapshotBasis | None = None
    # The store revision ``last`` was built from (the dashboard reuses that snapshot).
    revision: int = -1


def generator_for(
    store: ConfigStore,
    mesh: MeshConfig,
    cache: TranslationCache | None = None,
    jwks: Mapping[str, str] | None = None,
    chain: SnapshotChain | None = None,
) -> Callable[[ProxyNode], ProxyConfig]:
    """What the ADS server generates with after a store change: a Translator of a new snapshot
    (with the JWKS fetched so far)."""
    basis = snapshot_basis(store.objects(), mesh, chain.last if chain else None)
    if chain is not None:
        chain.last = basis
        chain.revision = store.revision
    snapshot = basis.snapshot
    if jwks:
        snapshot = replace(snapshot, jwks=jwks)
    return Translator(snapshot, cache).generate


def settle_heap() -> None:
    """Take what exists now out of the garbage collector's full walks: the store, the snapshot
    just built, the translations of the pushes before. At 1000 services that heap is ~1 GB and
    a full collection of it paused a push for 0.3-1 s (benchmarks/README.md, push cost). The
    collection first walks only what is not frozen yet (what the last push made); the control
    plane calls this after each store change (during the push's debounce) and when the xDS
    server has gone idle after pushes (``AdsServer(on_idle=...)``: the heap the proxies'
    first connections made is frozen then, not in the next change's push). No cyclic garbage is
    frozen; frozen objects are still freed by reference counting when they die (snapshots,
    protos and config models hold no cycles).

    A frozen object that later dies inside a reference cycle (asyncio and gRPC objects of a
    connection can) is never collected while frozen: once the process's resident memory has
    doubled since the last full collection, everything is thawed and walked once, which bounds
    that leak to the size of the live heap at the cost of one full pause per doubling.
    (Resident memory, not ``gc.get_freeze_count()``: that walks the whole frozen list, ~45 ms
    at 1000 services, on every call.)"""
    if resident_bytes() > 2 * _RESIDENT_AFTER_FULL[0]:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _RESIDENT_AFTER_FULL[0] = resident_bytes()
        return
    gc.collect()
    gc.freeze()


def resident_bytes() -> int:
    """This process's resident set size (Linux ``/proc``; the peak where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes there, KiB elsewhere
    return pages * resource.getpagesize()


# Resident memory after the last full collection (``settle_heap``).
_RESIDENT_AFTER_FULL = [0]


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else 0


def _status_rows(ads: AdsServer) -> list[dict[str, object]]:
    return [
        {
            "proxy": status.proxy_id,
            "node_id": status.node_id,
            "mode": status.mode,
            "connected_since": status.connected_since.isoformat(),
            "generation": status.generation,
            "types": {
                t.short_name: {
                    "state": str(t.state),
                    "sent_version": t.sent_version,
                    "acked_version": t.acked_version,
                    "error": t.error,
                }
                for t in status.types
            },
        }
        for status in ads.proxy_status()
    ]
