"""productpage over real details, reviews and ratings apps (no mesh)."""

from __future__ import annotations

import aiohttp
import pytest

from mainsail.samples.bookinfo import productpage
from tests.samples.bookinfo.conftest import Serve, start_bookinfo, upstream_env
from tests.samples.bookinfo.recording import RecordingUpstream

FULL_STAR = '<span class="glyphicon glyphicon-star"></span>'
EMPTY_STAR = '<span class="glyphicon glyphicon-star-empty"></span>'


async def _page(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(f"{url}/productpage") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        return await response.text()


async def test_page_shows_the_book_its_details_and_reviews(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve, "v1")

    page = await _page(client, bookinfo.productpage.url)

    assert "The Comedy of Errors" in page
    assert "Book Details" in page
    for fact in ("paperback", "200", "PublisherA", "English", "1234567890", "123-1234567890"):
        assert fact in page
    assert "Book Reviews" in page
    assert "Reviewer1" in page and "Reviewer2" in page
    assert "An extremely entertaining play by Shakespeare." in page
    assert "Reviews served by:" in page
    assert "Sign in" in page


async def test_reviews_v1_shows_no_stars(serve: Serve, client: aiohttp.ClientSession) -> None:
    bookinfo = await start_bookinfo(serve, "v1")

    page = await _page(client, bookinfo.productpage.url)

    assert "glyphicon-star" not in page
    assert "<font color=" not in page
    assert "Ratings service is currently unavailable" not in page


@pytest.mark.parametrize(("version", "color"), [("v2", "black"), ("v3", "red")])
async def test_rated_reviews_show_stars_in_the_version_color(
    serve: Serve, client: aiohttp.ClientSession, version: str, color: str
) -> None:
    bookinfo = await start_bookinfo(serve, version)

    page = await _page(client, bookinfo.productpage.url)

    assert page.count(f'<font color="{color}">') == 2
    other = "red" if color == "black" else "black"
    assert f'<font color="{other}">' not in page
    # Reviewer1 has 5 stars and Reviewer2 4.
    assert page.count(FULL_STAR) == 9
    assert page.count(EMPTY_STAR) == 1


async def test_index_links_to_the_product_page(serve: Serve, client: aiohttp.ClientSession) -> None:
    bookinfo = await start_bookinfo(serve)

    async with client.get(f"{bookinfo.productpage.url}/") as response:
        assert response.status == 200
        assert "/productpage?u=normal" in await response.text()


async def test_health(serve: Serve, client: aiohttp.ClientSession) -> None:
    bookinfo = await start_bookinfo(serve)

    for app in (bookinfo.productpage, bookinfo.details, bookinfo.reviews, bookinfo.ratings):
        async with client.get(f"{app.url}/health") as response:
            assert response.status == 200


async def test_login_sets_the_session_and_sends_end_user_to_reviews(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    bookinfo = await start_bookinfo(serve)
    reviews = RecordingUpstream(body={"id": "0", "podname": "r", "reviews": []})
    reviews_app = await serve(reviews.build_app())
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(
                {
                    **upstream_env("details", bookinfo.details),
                    **upstream_env("reviews", reviews_app),
                }
            )
        )
    )

    async with client.post(
        f"{page_app.url}/login",
        data={"username": "jason", "passwd": "password"},
        allow_redirects=False,
    ) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/productpage"
        assert response.cookies["session"].value == "jason"

    page = await _page(client, page_app.url)

    assert "jason" in page
    assert "sign out" in page
    assert "Sign in" not in page
    assert reviews.requests[-1].headers["end-user"] == "jason"


async def test_logout_ends_the_session(serve: Serve, client: aiohttp.ClientSession) -> None:
    reviews = RecordingUpstream(body={"id": "0", "podname": "r", "reviews": []})
    reviews_app = await serve(reviews.build_app())
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(upstream_env("reviews", reviews_app))
        )
    )
    await client.post(f"{page_app.url}/login", data={"username": "jason", "passwd": "x"})

    async with client.get(f"{page_app.url}/logout", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/productpage"

    page = await _page(client, page_app.url)
    assert "Sign in" in page
    assert "end-user" not in reviews.requests[-1].headers


async def test_anonymous_callers_cannot_claim_an_end_user(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    reviews = RecordingUpstream(body={"id": "0", "podname": "r", "reviews": []})
    reviews_app = await serve(reviews.build_app())
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(upstream_env("reviews", reviews_app))
        )
    )

    await _page_with_headers(client, page_app.url, {"end-user": "jason"})

    assert "end-user" not in reviews.requests[-1].headers


async def _page_with_headers(
    client: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> None:
    async with client.get(f"{url}/productpage", headers=headers) as response:
        assert response.status == 200


async def test_api(serve: Serve, client: aiohttp.ClientSession) -> None:
    bookinfo = await start_bookinfo(serve, "v3")
    api = f"{bookinfo.productpage.url}/api/v1/products"

    async with client.get(api) as response:
        products = await response.json()
    async with client.get(f"{api}/0") as response:
        details = await response.json()
    async with client.get(f"{api}/0/reviews") as response:
        reviews = await response.json()
    async with client.get(f"{api}/0/ratings") as response:
        ratings = await response.json()

    assert [product["title"] for product in products] == ["The Comedy of Errors"]
    assert details["ISBN-13"] == "123-1234567890"
    assert reviews["reviews"][0]["rating"] == {"stars": 5, "color": "red"}
    assert ratings == {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}
