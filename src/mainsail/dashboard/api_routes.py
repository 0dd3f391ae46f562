"""The JSON API of docs/dashboard.md (``/api/...``): graph, summary, services, workloads,
config, proxies, traces. Handlers only read the sources and call the pure views."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from mainsail.config.schema import lookup
from mainsail.dashboard import query
from mainsail.dashboard.config_view import config_items
from mainsail.dashboard.errors import BadParameterError, NotFoundError, UnavailableError
from mainsail.dashboard.graph import MeshInventory
from mainsail.dashboard.graph_answers import GraphAnswers
from mainsail.dashboard.metrics_window import WindowTotals
from mainsail.dashboard.prometheus_source import prometheus_series
from mainsail.dashboard.proxies_view import certificate_summary, proxy_id, proxy_rows
from mainsail.dashboard.signals import (
    Selection,
    breakdown_rows,
    by_caller,
    by_server,
    by_service,
    grouped,
    mesh_selection,
    per_service,
    series,
    service_selection,
    tally,
    workload_inbound,
    workload_outbound,
)
from mainsail.dashboard.sources import DashboardSources, inventory
from mainsail.dashboard.tally import Tally
from mainsail.dashboard.traces_view import trace_detail, trace_row
from mainsail.platform.pod import PodSpec

DEFAULT_WINDOW = 60.0
DEFAULT_RANGE = 900.0
_POINTS = 60  # points per series


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _window(request: web.Request, sources: DashboardSources) -> float:
    return query.duration(request.query, "window", DEFAULT_WINDOW, maximum=sources.window.history)


def _namespace(request: web.Request) -> str | None:
    return request.query.get("namespace") or None


def _current(sources: DashboardSources) -> tuple[MeshInventory, Sequence[PodSpec]]:
    pods = sources.pods()
    return inventory(sources.snapshot(), pods), pods


def add_api_routes(
    routes: web.RouteTableDef, sources: DashboardSources, answers: GraphAnswers
) -> None:
    window = sources.window

    @routes.get("/api/graph")
    async def graph(request: web.Request) -> web.Response:
        body = await answers.answer(_window(request, sources), _namespace(request))
        return web.Response(body=body, content_type="application/json")

    @routes.get("/api/summary")
    async def summary(request: web.Request) -> web.Response:
        seconds = _window(request, sources)
        span = query.duration(request.query, "range", DEFAULT_RANGE, maximum=window.history)
        found_inventory, _ = await asyncio.to_thread(_current, sources)
        totals = window.totals(seconds)
        selection = mesh_selection(found_inventory)
        services = await asyncio.to_thread(_service_rows, sources, totals, found_inventory)
        namespace = _namespace(request)
        if namespace is not None:
            services = [s for s in services if s["namespace"] == namespace]
        # The mesh's own series: every request as its server reported it (Prometheus: the
        # destination reporter; the scrapes also count callers' reports of external calls).
        detail = await _detail(
            sources, totals, selection, seconds, span, {"reporter": "destination"}
        )
        return web.json_response(
            {
                **detail,
                "mesh": detail["signals"],
                "services": services,
            }
        )

    @routes.get("/api/services")
    async def services(_: web.Request) -> web.Response:
        snapshot = await asyncio.to_thread(sources.snapshot)
        items = [
            {
                "namespace": s.namespace,
                "name": s.name,
                "hostname": s.hostname,
                "registry": s.registry,
                "external": s.mesh_external,
                "ports": [
                    {"name": p.name, "port": p.port, "protocol": str(p.protocol)} for p in s.ports
                ],
            }
            for s in sorted(snapshot.services.values(), key=lambda s: (s.namespace, s.name))
        ]
        return web.json_response({"items": items})

    @routes.get("/api/workloads")
    async def workloads(_: web.Request) -> web.Response:
        pods = await asyncio.to_thread(sources.pods)
        return web.json_response({"items": _workload_items(pods)})

    @routes.get("/api/services/{namespace}/{name}")
    async def service(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        seconds = _window(request, sources)
        span = query.duration(request.query, "range", DEFAULT_RANGE, maximum=window.history)
        snapshot = await asyncio.to_thread(sources.snapshot)
        found_inventory, _ = await asyncio.to_thread(_current, sources)
        totals = window.totals(seconds)
        selection = service_selection(namespace, name)
        known = any(s.namespace == namespace and s.name == name for s in snapshot.services.values())
        if not known and not any(selection.counters(k) for k in totals.counters):
            raise NotFoundError(f"no service {name!r} in namespace {namespace!r}")
        body = await _detail(
            sources,
            totals,
            selection,
            seconds,
            span,
            {
                "reporter": "destination",
                "destination_service_name": name,
                "destination_service_namespace": namespace,
            },
        )
        body.update(
            namespace=namespace,
            name=name,
            inbound=breakdown_rows(
                grouped(totals, selection, by_caller(found_inventory)), totals.seconds
            ),
            outbound=[],
            workloads=breakdown_rows(
                grouped(totals, selection, by_server(found_inventory)), totals.seconds
            ),
        )
        return web.json_response(body)

    @routes.get("/api/workloads/{namespace}/{name}")
    async def workload(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        seconds = _window(request, sources)
        span = query.duration(request.query, "range", DEFAULT_RANGE, maximum=window.history)
        found_inventory, pods = await asyncio.to_thread(_current, sources)
        members = [p for p in pods if p.namespace == namespace and _workload_of(p) == name]
        totals = window.totals(seconds)
        inbound, outbound = workload_inbound(namespace, name), workload_outbound(namespace, name)
        if not members and not any(
            inbound.counters(k) or outbound.counters(k) for k in totals.counters
        ):
            raise NotFoundError(f"no workload {name!r} in namespace {namespace!r}")
        is_gateway = any(p.proxy_type == "router" for p in members)
        # A gateway's own traffic is what it sent (nothing in the mesh reports what reached it).
        main = outbound if is_gateway else inbound
        reporter = "source" if is_gateway else "destination"
        side = "source" if is_gateway else "destination"
        body = await _detail(
            sources,
            totals,
            main,
            seconds,
            span,
            {
                "reporter": reporter,
                f"{side}_workload": name,
                f"{side}_workload_namespace": namespace,
            },
        )
        body.update(
            namespace=namespace,
            name=name,
            kind="gateway" if is_gateway else "workload",
            pods=[p.name for p in members],
            inbound=breakdown_rows(
                grouped(totals, inbound, by_caller(found_inventory)), totals.seconds
            ),
            outbound=breakdown_rows(
                grouped(totals, outbound, by_service(found_inventory)), totals.seconds
            ),
            workloads=[],
        )
        return web.json_response(body)

    @routes.get("/api/config")
    async def config(request: web.Request) -> web.Response:
        kind_word = request.query.get("kind") or None
        kind = None
        if kind_word is not None:
            schema = lookup(kind_word)
            if schema is None:
                raise BadParameterError(f"query parameter 'kind': unknown kind {kind_word!r}")
            kind = schema.kind
        namespace = _namespace(request)

        def build() -> list[dict[str, Any]]:
            return config_items(
                sources.objects(),
                sources.snapshot(),
                sources.pods(),
                sources.mesh,
                kind=kind,
                namespace=namespace,
            )

        return web.json_response({"items": await asyncio.to_thread(build)})

    @routes.get("/api/proxies")
    async def proxies(_: web.Request) -> web.Response:
        pods = await asyncio.to_thread(sources.pods)
        certificates = await _certificates(pods)
        return web.json_response({"items": proxy_rows(sources.proxy_status(), pods, certificates)})

    @routes.get("/api/proxies/{proxy}")
    async def proxy(request: web.Request) -> web.Response:
        wanted = request.match_info["proxy"]
        pods = await asyncio.to_thread(sources.pods)
        pods = [p for p in pods if wanted in (proxy_id(p), p.key)]
        rows = proxy_rows(sources.proxy_status(), pods, await _certificates(pods))
        found = [
            r for r in rows if r["proxy"] == wanted or f"{r['namespace']}.{r['pod']}" == wanted
        ]
        if not found:
            raise NotFoundError(f"no proxy {wanted!r} (want <pod>.<namespace>)")
        return web.json_response(found[0])

    @routes.get("/api/proxies/{proxy}/config_dump")
    async def config_dump(request: web.Request) -> web.Response:
        wanted = request.match_info["proxy"]
        pods = await asyncio.to_thread(sources.pods)
        pod = next((p for p in pods if wanted in (proxy_id(p), p.key)), None)
        if pod is None:
            raise NotFoundError(f"no proxy {wanted!r} (want <pod>.<namespace>)")
        url = f"http://{pod.ip}:{pod.proxy_ports.admin}/config_dump"
        try:
            async with (
                aiohttp.ClientSession(trust_env=False) as session,
                session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r,
            ):
                body = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UnavailableError(
                f"proxy {wanted}: its Envoy admin {url} did not answer: {exc}"
            ) from exc
        if status != 200:
            raise UnavailableError(f"proxy {wanted}: {url} answered {status}")
        return web.Response(body=body, content_type="application/json")

    @routes.get("/api/traces")
    async def traces(request: web.Request) -> web.Response:
        limit = query.count(request.query, "limit", 20, maximum=1000)
        service = request.query.get("service", "")
        found = sources.traces.traces(service=service, limit=limit)
        return web.json_response({"items": [trace_row(t) for t in found if t]})

    @routes.get("/api/traces/{trace_id}")
    async def trace(request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        found = sources.traces.trace(trace_id)
        if not found:
            raise NotFoundError(f"no trace {trace_id!r} in the collector")
        return web.json_response(trace_detail(found))


def _workload_of(pod: PodSpec) -> str:
    return pod.workload_name or pod.name


def _workload_items(pods: Sequence[PodSpec]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[PodSpec]] = {}
    for pod in pods:
        groups.setdefault((pod.namespace, _workload_of(pod)), []).append(pod)
    return [
        {
            "namespace": namespace,
            "name": name,
            "kind": "gateway" if members[0].proxy_type == "router" else "workload",
            "app": members[0].labels.get("app"),
            "version": members[0].labels.get("version"),
            "labels": dict(members[0].labels),
            "service_account": members[0].service_account,
            "pods": [{"name": p.name, "ip": p.ip, "proxy": proxy_id(p)} for p in members],
        }
        for (namespace, name), members in sorted(groups.items())
    ]


def _service_rows(
    sources: DashboardSources, totals: WindowTotals, found_inventory: MeshInventory
) -> list[dict[str, Any]]:
    snapshot = sources.snapshot()
    measured = per_service(totals, found_inventory)
    rows: dict[str, dict[str, Any]] = {}
    for s in snapshot.services.values():
        if s.mesh_external:
            continue
        whole, workloads = measured.get((s.namespace, s.name), (Tally(), {}))
        rows[f"{s.namespace}/{s.name}"] = {
            "namespace": s.namespace,
            "name": s.name,
            **whole.figures(totals.seconds),
            "workloads": breakdown_rows(workloads, totals.seconds),
        }
    return [rows[k] for k in sorted(rows)]


async def _detail(
    sources: DashboardSources,
    totals: WindowTotals,
    selection: Selection,
    seconds: float,
    span: float,
    labels: dict[str, str],
) -> dict[str, Any]:
    window = sources.window
    end = window.latest or time.time()
    step = max(window.interval, span / _POINTS)
    start = end - span + step
    if sources.prometheus_url:
        points = await prometheus_series(
            sources.prometheus_url,
            labels,
            start=start,
            end=end,
            step=step,
            window_seconds=max(seconds, step),
        )
        source = "prometheus"
    else:
        points = series(
            window.slots(start - step),
            window.sum_slots,
            selection,
            start=start,
            end=end,
            step=step,
        )
        source = "scrape"
    return {
        "window_seconds": seconds,
        "range_seconds": span,
        "step_seconds": step,
        "generated_at": _now_iso(),
        "signals": tally(totals, selection).figures(totals.seconds),
        "series": points,
        "source": source,
    }


async def _certificates(pods: Sequence[PodSpec]) -> dict[str, dict[str, Any] | None]:
    now = datetime.now(UTC)

    async def one(session: aiohttp.ClientSession, pod: PodSpec) -> dict[str, Any] | None:
        url = f"http://{pod.ip}:{pod.proxy_ports.admin}/certs"
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status != 200:
                    return None
                return certificate_summary(await r.json(content_type=None), now)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async with aiohttp.ClientSession(trust_env=False) as session:
        found = await asyncio.gather(*(one(session, p) for p in pods))
    return {proxy_id(p): cert for p, cert in zip(pods, found, strict=True)}
