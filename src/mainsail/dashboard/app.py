"""The dashboard's aiohttp application: the JSON API (``/api/...``), the book's ServiceGraph
endpoints, and the web app's static files (``/`` and ``/static/...``). Errors map to a status in
one place (``dashboard.errors``) and are ``{"errors": [{"message": ...}]}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from mainsail.dashboard.api_routes import add_api_routes
from mainsail.dashboard.errors import DashboardError
from mainsail.dashboard.graph_answers import GraphAnswers
from mainsail.dashboard.servicegraph_routes import add_servicegraph_routes
from mainsail.dashboard.sources import DashboardSources

_PLACEHOLDER = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Mainsail dashboard</title></head>
<body><h1>Mainsail dashboard</h1>
<p>The web pages are not installed; the JSON API answers under <a href="/api/graph">/api/</a>
(docs/dashboard.md), the book's ServiceGraph at <a href="/force/forcegraph.html">/force/forcegraph.html</a>,
<a href="/graph">/graph</a>, <a href="/d3graph">/d3graph</a>, <a href="/dotgraph">/dotgraph</a>,
<a href="/dotviz">/dotviz</a>.</p></body></html>
"""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _errors(message: str, status: int) -> web.Response:
    return web.json_response({"errors": [{"message": message}]}, status=status)


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DashboardError as exc:
        return _errors(str(exc), exc.status)
    except web.HTTPNotFound:
        if request.path.startswith("/api/"):
            return _errors(f"no such API endpoint: {request.method} {request.path}", 404)
        raise


def _static_file(root: Path, relative: str) -> Path | None:
    """A file under ``root`` (never outside it: ``..`` and symlinks out are refused)."""
    if not root.is_dir():
        return None
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def add_static_routes(routes: web.RouteTableDef, static_dir: Path) -> None:
    @routes.get("/")
    async def index(_: web.Request) -> web.StreamResponse:
        page = _static_file(static_dir, "index.html")
        if page is None:
            return web.Response(text=_PLACEHOLDER, content_type="text/html")
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    @routes.get("/static/{path:.+}")
    async def static(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        found = _static_file(static_dir, relative)
        if found is None:
            raise web.HTTPNotFound(text=f"no static file {relative!r}")
        return web.FileResponse(found, headers={"Cache-Control": "no-cache"})


# The app's graph answers: the scraper calls their ``refresh`` after each round.
GRAPH_ANSWERS = web.AppKey("graph_answers", GraphAnswers)


def build_dashboard_app(sources: DashboardSources) -> web.Application:
    routes = web.RouteTableDef()
    answers = GraphAnswers(sources)
    add_api_routes(routes, sources, answers)
    add_servicegraph_routes(routes, sources)
    add_static_routes(routes, sources.static_dir)
    app = web.Application(middlewares=[_error_middleware])
    app.add_routes(routes)
    app[GRAPH_ANSWERS] = answers
    return app
