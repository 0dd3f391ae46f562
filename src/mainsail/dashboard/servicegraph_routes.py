"""The book's ServiceGraph endpoints: ``/graph``, ``/d3graph``, ``/dotgraph``, ``/dotviz``,
``/force/forcegraph.html``, with Istio 1.0's query parameters (``time_horizon`` default 5m,
``filter_empty``, ``source_namespace``/``source_workload``/``destination_namespace``/
``destination_workload``). ``/dotviz`` renders with Graphviz's ``dot -Tpng`` (Istio's page drew
the DOT in the browser with viz.js; we send the image)."""

from __future__ import annotations

import asyncio
import shutil
from importlib import resources

from aiohttp import web

from mainsail.dashboard import query
from mainsail.dashboard.errors import UnavailableError
from mainsail.dashboard.servicegraph import (
    ServiceGraph,
    ServiceGraphFilter,
    build_service_graph,
    d3_json,
    dot_text,
    graph_json,
)
from mainsail.dashboard.sources import DashboardSources

DEFAULT_HORIZON = 300.0
DOT_TIMEOUT = 20.0


def _service_graph(request: web.Request, sources: DashboardSources) -> ServiceGraph:
    q = request.query
    horizon = query.prometheus_duration(q, "time_horizon", DEFAULT_HORIZON)
    options = ServiceGraphFilter(
        filter_empty=query.flag(q, "filter_empty"),
        destination_namespace=q.get("destination_namespace", ""),
        destination_workload=q.get("destination_workload", ""),
        source_namespace=q.get("source_namespace", ""),
        source_workload=q.get("source_workload", ""),
    )
    window = sources.window
    return build_service_graph(window.totals(horizon), options, window.known_series())


async def render_png(dot: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """``dot -Tpng`` on ``dot``; ``UnavailableError`` when Graphviz is missing, slow or fails."""
    program = shutil.which("dot")
    if program is None:
        raise UnavailableError(
            "/dotviz needs Graphviz's `dot` program, which is not installed on the control "
            "plane's machine (install graphviz; /dotgraph serves the DOT text without it)"
        )
    process = await asyncio.create_subprocess_exec(
        program,
        "-Tpng",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(dot.encode()), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise UnavailableError(f"/dotviz: `dot -Tpng` took more than {timeout:g}s") from None
    if process.returncode != 0:
        raise UnavailableError(
            f"/dotviz: `dot -Tpng` failed (exit {process.returncode}): "
            f"{err.decode(errors='replace').strip()}"
        )
    return out


def add_servicegraph_routes(routes: web.RouteTableDef, sources: DashboardSources) -> None:
    @routes.get("/graph")
    async def graph(request: web.Request) -> web.Response:
        return web.json_response(graph_json(_service_graph(request, sources)))

    @routes.get("/d3graph")
    async def d3graph(request: web.Request) -> web.Response:
        return web.json_response(d3_json(_service_graph(request, sources)))

    @routes.get("/dotgraph")
    async def dotgraph(request: web.Request) -> web.Response:
        return web.Response(
            text=dot_text(_service_graph(request, sources)), content_type="text/vnd.graphviz"
        )

    @routes.get("/dotviz")
    async def dotviz(request: web.Request) -> web.Response:
        image = await render_png(dot_text(_service_graph(request, sources)))
        return web.Response(body=image, content_type="image/png")

    @routes.get("/force/forcegraph.html")
    async def forcegraph(_: web.Request) -> web.Response:
        page = resources.files("mainsail.dashboard").joinpath("forcegraph.html").read_text()
        return web.Response(text=page, content_type="text/html")
