"""The JSON of details, ratings and reviews, and how reviews reads its environment."""

from __future__ import annotations

import aiohttp
import pytest

from mainsail.samples.bookinfo import details, ratings, reviews
from mainsail.samples.bookinfo._upstream import service_url
from tests.samples.bookinfo.conftest import Serve


async def test_details_json(serve: Serve, client: aiohttp.ClientSession) -> None:
    app = await serve(details.build_app())

    async with client.get(f"{app.url}/details/7") as response:
        body = await response.json()

    assert body == {
        "id": 7,
        "author": "William Shakespeare",
        "year": 1595,
        "type": "paperback",
        "pages": 200,
        "publisher": "PublisherA",
        "language": "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
    }


@pytest.mark.parametrize("service", ["details", "ratings"])
async def test_non_numeric_product_is_a_bad_request(
    serve: Serve, client: aiohttp.ClientSession, service: str
) -> None:
    app = await serve(details.build_app() if service == "details" else ratings.build_app())

    async with client.get(f"{app.url}/{service}/abc") as response:
        assert response.status == 400
        assert "error" in await response.json()


async def test_ratings_json_and_posted_ratings(serve: Serve, client: aiohttp.ClientSession) -> None:
    app = await serve(ratings.build_app())

    async with client.get(f"{app.url}/ratings/0") as response:
        assert await response.json() == {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}
    async with client.post(f"{app.url}/ratings/1", json={"Reviewer1": 1}) as response:
        assert response.status == 200
    async with client.get(f"{app.url}/ratings/1") as response:
        assert await response.json() == {"id": 1, "ratings": {"Reviewer1": 1}}
    async with client.post(f"{app.url}/ratings/1", json={"Reviewer1": "many"}) as response:
        assert response.status == 400


async def test_reviews_v1_json_has_no_ratings(serve: Serve, client: aiohttp.ClientSession) -> None:
    settings = reviews.ReviewsSettings.from_env({"POD_NAME": "reviews-v1-abc"})
    app = await serve(reviews.build_app(settings))

    async with client.get(f"{app.url}/reviews/0") as response:
        body = await response.json()

    assert body["id"] == "0"
    assert body["podname"] == "reviews-v1-abc"
    assert body["clustername"] == "null"
    assert [review["reviewer"] for review in body["reviews"]] == ["Reviewer1", "Reviewer2"]
    assert all("rating" not in review for review in body["reviews"])


@pytest.mark.parametrize(
    ("env", "enabled", "color", "timeout"),
    [
        ({}, False, "black", 10.0),
        ({"SERVICE_VERSION": "v1"}, False, "black", 10.0),
        ({"SERVICE_VERSION": "v2"}, True, "black", 10.0),
        ({"SERVICE_VERSION": "v3"}, True, "red", 2.5),
        ({"SERVICE_VERSION": "v2", "ENABLE_RATINGS": "false"}, False, "black", 10.0),
        (
            {"SERVICE_VERSION": "v1", "ENABLE_RATINGS": "TRUE", "STAR_COLOR": "red"},
            True,
            "red",
            2.5,
        ),
    ],
)
def test_reviews_settings_from_env(
    env: dict[str, str], enabled: bool, color: str, timeout: float
) -> None:
    settings = reviews.ReviewsSettings.from_env(env)

    assert settings.ratings_enabled is enabled
    assert settings.star_color == color
    assert settings.ratings_timeout == timeout


def test_service_url_reads_istio_variables() -> None:
    assert service_url({}, "ratings") == "http://ratings:9080"
    assert (
        service_url({"RATINGS_HOSTNAME": "10.0.0.1", "RATINGS_SERVICE_PORT": "1234"}, "ratings")
        == "http://10.0.0.1:1234"
    )
    assert service_url({"SERVICES_DOMAIN": "default.svc"}, "details") == (
        "http://details.default.svc:9080"
    )
