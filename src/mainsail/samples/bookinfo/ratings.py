"""BookInfo ratings: ``GET /ratings/<id>`` returns each reviewer's stars.

``POST /ratings/<id>`` with a JSON object ``{"Reviewer1": 3, ...}`` replaces a product's ratings
in memory, as Istio's v1 does. Reads ``INSTANCE_IP`` and ``PORT``. Istio's database-backed
versions and its ``v-faulty``/``v-delayed`` variants are not provided.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aiohttp import web

from mainsail.samples.bookinfo._serve import Listen, add_health, run

DEFAULT_RATINGS: Mapping[str, int] = {"Reviewer1": 5, "Reviewer2": 4}

_RATINGS: web.AppKey[dict[int, dict[str, int]]] = web.AppKey("ratings", dict)


def _product_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["id"])
    except ValueError:
        return None


async def _get(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return web.json_response({"error": "please provide numeric product ID"}, status=400)
    ratings = request.app[_RATINGS].get(product_id, DEFAULT_RATINGS)
    return web.json_response({"id": product_id, "ratings": dict(ratings)})


async def _post(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return web.json_response({"error": "please provide numeric product ID"}, status=400)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not all(
        isinstance(stars, int) and not isinstance(stars, bool) for stars in body.values()
    ):
        return web.json_response({"error": "please provide valid ratings JSON"}, status=400)
    ratings = {str(reviewer): stars for reviewer, stars in body.items()}
    request.app[_RATINGS][product_id] = ratings
    return web.json_response({"id": product_id, "ratings": ratings})


def build_app() -> web.Application:
    app = web.Application()
    app[_RATINGS] = {}
    add_health(app, "Ratings")
    app.router.add_get("/ratings/{id}", _get)
    app.router.add_post("/ratings/{id}", _post)
    return app


def main() -> None:
    run(build_app(), Listen.from_env(os.environ), "ratings")


if __name__ == "__main__":
    main()
