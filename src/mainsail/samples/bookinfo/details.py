"""BookInfo details: ``GET /details/<id>`` returns the book's facts.

Reads ``INSTANCE_IP`` and ``PORT``. Istio's external book service
(``ENABLE_EXTERNAL_BOOK_SERVICE``) is not provided: every id gets the same book.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

from mainsail.samples.bookinfo._serve import Listen, add_health, run


def book_details(product_id: int) -> dict[str, Any]:
    return {
        "id": product_id,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


async def _details(request: web.Request) -> web.Response:
    try:
        product_id = int(request.match_info["id"])
    except ValueError:
        return web.json_response({"error": "please provide numeric product id"}, status=400)
    return web.json_response(book_details(product_id))


def build_app() -> web.Application:
    app = web.Application()
    add_health(app, "Details")
    app.router.add_get("/details/{id}", _details)
    return app


def main() -> None:
    run(build_app(), Listen.from_env(os.environ), "details")


if __name__ == "__main__":
    main()
