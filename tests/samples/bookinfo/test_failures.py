"""What productpage and reviews show when a dependency is down: Istio's messages."""

from __future__ import annotations

import aiohttp

from mainsail.samples.bookinfo import productpage
from tests.samples.bookinfo.conftest import Serve, start_bookinfo, upstream_env
from tests.samples.bookinfo.recording import RecordingUpstream

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book."
DETAILS_UNAVAILABLE = "Sorry, product details are currently unavailable for this book."


async def _get(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


async def test_stopped_ratings_shows_ratings_unavailable(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v2")
    await bookinfo.ratings.stop()

    status, page = await _get(client, f"{bookinfo.productpage.url}/productpage")

    assert status == 200
    assert page.count(f"<p><i>{RATINGS_UNAVAILABLE}</i></p>") == 2
    assert "glyphicon-star" not in page
    assert "Book Reviews" in page


async def test_stopped_ratings_marks_each_review_in_json(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v3")
    await bookinfo.ratings.stop()

    async with client.get(f"{bookinfo.reviews.url}/reviews/0") as response:
        body = await response.json()

    assert [review["rating"] for review in body["reviews"]] == [
        {"error": RATINGS_UNAVAILABLE},
        {"error": RATINGS_UNAVAILABLE},
    ]


async def test_stopped_reviews_shows_reviews_unavailable(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v1")
    await bookinfo.reviews.stop()

    status, page = await _get(client, f"{bookinfo.productpage.url}/productpage")

    assert status == 200
    assert "Error fetching product reviews!" in page
    assert REVIEWS_UNAVAILABLE in page
    assert "Book Details" in page


async def test_stopped_details_shows_details_unavailable(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v1")
    await bookinfo.details.stop()

    status, page = await _get(client, f"{bookinfo.productpage.url}/productpage")

    assert status == 200
    assert DETAILS_UNAVAILABLE in page
    assert "Book Reviews" in page


async def test_api_reports_the_failure_with_status_500(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v1")
    await bookinfo.reviews.stop()

    async with client.get(f"{bookinfo.productpage.url}/api/v1/products/0/reviews") as response:
        assert response.status == 500
        assert await response.json() == {"error": REVIEWS_UNAVAILABLE}


async def test_reviews_is_tried_twice_and_details_once(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    reviews = RecordingUpstream(body={"error": "overloaded"}, status=503)
    details = RecordingUpstream(body={"error": "overloaded"}, status=503)
    reviews_app = await serve(reviews.build_app())
    details_app = await serve(details.build_app())
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(
                {**upstream_env("reviews", reviews_app), **upstream_env("details", details_app)}
            )
        )
    )

    status, page = await _get(client, f"{page_app.url}/productpage")

    assert status == 200
    assert REVIEWS_UNAVAILABLE in page and DETAILS_UNAVAILABLE in page
    assert len(reviews.requests) == 2
    assert len(details.requests) == 1
