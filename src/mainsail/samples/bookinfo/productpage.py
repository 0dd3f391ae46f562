"""BookInfo productpage: the book's page, built from details and reviews, and a JSON API.

Routes: ``/`` and ``/index.html``, ``/productpage``, ``POST /login`` (form ``username``,
``passwd``), ``GET /logout``, ``/api/v1/products``, ``/api/v1/products/<id>``,
``/api/v1/products/<id>/reviews``, ``/api/v1/products/<id>/ratings``, ``/health``.

Environment: ``DETAILS_HOSTNAME``/``DETAILS_SERVICE_PORT``, ``REVIEWS_HOSTNAME``/
``REVIEWS_SERVICE_PORT``, ``RATINGS_HOSTNAME``/``RATINGS_SERVICE_PORT``, ``SERVICES_DOMAIN``,
``INSTANCE_IP``, ``PORT``, ``HTTP_PROXY``.

The signed-in user lives in a ``session`` cookie holding the user name, and travels to reviews
as the ``end-user`` header - the header Istio's routing samples match.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from mainsail.samples.bookinfo._productpage_html import render_index, render_product_page
from mainsail.samples.bookinfo._propagation import PROPAGATED_HEADERS, forwarded_headers
from mainsail.samples.bookinfo._serve import Listen, add_health, run
from mainsail.samples.bookinfo._upstream import CLIENT, client_session, get_json, service_url

DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
RATINGS_UNAVAILABLE = "Sorry, product ratings are currently unavailable for this book."

# Istio's productpage: 3 s per call, and reviews is tried twice. The fault-injection task's
# arithmetic (two 3 s tries against a 7 s ratings delay) relies on these numbers.
UPSTREAM_TIMEOUT = 3.0
REVIEWS_TRIES = 2

SESSION_COOKIE = "session"

PRODUCTS: tuple[Mapping[str, Any], ...] = (
    {
        "id": 0,
        "title": "The Comedy of Errors",
        "descriptionHtml": (
            '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
            "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
            "shortest and one of his most farcical comedies, with a major part of the humour "
            "coming from slapstick and mistaken identity, in addition to puns and word play."
        ),
    },
)

# end-user comes from the session, never from the caller.
_FORWARDED = tuple(name for name in PROPAGATED_HEADERS if name != "end-user")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductPageSettings:
    details_url: str = "http://details:9080"
    reviews_url: str = "http://reviews:9080"
    ratings_url: str = "http://ratings:9080"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProductPageSettings:
        return cls(
            details_url=service_url(env, "details"),
            reviews_url=service_url(env, "reviews"),
            ratings_url=service_url(env, "ratings"),
        )


_SETTINGS: web.AppKey[ProductPageSettings] = web.AppKey("settings", ProductPageSettings)


def _user(request: web.Request) -> str:
    return unquote(request.cookies.get(SESSION_COOKIE, ""))


def _outbound_headers(request: web.Request) -> dict[str, str]:
    headers = forwarded_headers(request.headers, _FORWARDED)
    user = _user(request)
    if user:
        headers["end-user"] = user
    return headers


async def _call(
    request: web.Request, url: str, headers: Mapping[str, str], error: str, tries: int = 1
) -> tuple[int, Any]:
    """(status, body) of a dependency; on failure Istio's status (upstream's, else 500) + error."""
    status = 0
    for _ in range(tries):
        status, body = await get_json(
            request.app[CLIENT], url, headers=headers, timeout=UPSTREAM_TIMEOUT
        )
        if status == 200 and body is not None:
            return 200, body
    return (status if status and status != 200 else 500), {"error": error}


async def _details(
    request: web.Request, product_id: str, headers: Mapping[str, str]
) -> tuple[int, Any]:
    url = f"{request.app[_SETTINGS].details_url}/details/{quote(product_id, safe='')}"
    return await _call(request, url, headers, DETAILS_UNAVAILABLE)


async def _reviews(
    request: web.Request, product_id: str, headers: Mapping[str, str]
) -> tuple[int, Any]:
    url = f"{request.app[_SETTINGS].reviews_url}/reviews/{quote(product_id, safe='')}"
    return await _call(request, url, headers, REVIEWS_UNAVAILABLE, tries=REVIEWS_TRIES)


async def _product_page(request: web.Request) -> web.Response:
    product = PRODUCTS[0]
    product_id = str(product["id"])
    headers = _outbound_headers(request)
    (details_status, details), (reviews_status, reviews) = await asyncio.gather(
        _details(request, product_id, headers), _reviews(request, product_id, headers)
    )
    page = render_product_page(
        product=product,
        user=_user(request),
        details_status=details_status,
        details=details,
        reviews_status=reviews_status,
        reviews=reviews,
    )
    return web.Response(text=page, content_type="text/html")


async def _index(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    services = (
        ("details", settings.details_url, "details"),
        ("reviews", settings.reviews_url, "reviews"),
        ("ratings", settings.ratings_url, "ratings"),
    )
    return web.Response(text=render_index(services), content_type="text/html")


async def _login(request: web.Request) -> web.Response:
    form = await request.post()
    user = form.get("username")
    response = web.Response(status=302, headers={"Location": "/productpage"})
    if isinstance(user, str) and user:
        response.set_cookie(SESSION_COOKIE, quote(user, safe=""), path="/", httponly=True)
    return response


async def _logout(_: web.Request) -> web.Response:
    response = web.Response(status=302, headers={"Location": "/productpage"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _api_products(_: web.Request) -> web.Response:
    return web.json_response([dict(product) for product in PRODUCTS])


async def _api_product(request: web.Request) -> web.Response:
    status, body = await _details(request, request.match_info["id"], _outbound_headers(request))
    return web.json_response(body, status=status)


async def _api_reviews(request: web.Request) -> web.Response:
    status, body = await _reviews(request, request.match_info["id"], _outbound_headers(request))
    return web.json_response(body, status=status)


async def _api_ratings(request: web.Request) -> web.Response:
    product_id = quote(request.match_info["id"], safe="")
    url = f"{request.app[_SETTINGS].ratings_url}/ratings/{product_id}"
    status, body = await _call(request, url, _outbound_headers(request), RATINGS_UNAVAILABLE)
    return web.json_response(body, status=status)


def build_app(settings: ProductPageSettings) -> web.Application:
    app = web.Application()
    app[_SETTINGS] = settings
    app.cleanup_ctx.append(client_session)
    add_health(app, "Product page")
    app.router.add_get("/", _index)
    app.router.add_get("/index.html", _index)
    app.router.add_get("/productpage", _product_page)
    app.router.add_post("/login", _login)
    app.router.add_get("/logout", _logout)
    app.router.add_get("/api/v1/products", _api_products)
    app.router.add_get("/api/v1/products/{id}", _api_product)
    app.router.add_get("/api/v1/products/{id}/reviews", _api_reviews)
    app.router.add_get("/api/v1/products/{id}/ratings", _api_ratings)
    return app


def main() -> None:
    settings = ProductPageSettings.from_env(os.environ)
    run(build_app(settings), Listen.from_env(os.environ), "productpage")


if __name__ == "__main__":
    main()
