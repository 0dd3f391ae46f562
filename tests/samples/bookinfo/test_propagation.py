"""Every service copies the tracing headers it received onto its upstream calls."""

from __future__ import annotations

import aiohttp
import pytest

from mainsail.samples.bookinfo import productpage, reviews
from tests.samples.bookinfo.conftest import Serve, upstream_env
from tests.samples.bookinfo.recording import RecordingUpstream

TRACE = {
    "x-request-id": "6f1c2a4e-0000-4000-8000-000000000001",
    "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
    "x-b3-spanid": "e457b5a2e4d86bd1",
    "x-b3-parentspanid": "05e3ac9a4f6e3b90",
    "x-b3-sampled": "1",
    "x-b3-flags": "1",
    "b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
    "x-ot-span-context": "ctx",
    "traceparent": "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
    "tracestate": "vendor=value",
    "user-agent": "bookinfo-test/1.0",
}

RATINGS_BODY = {"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}


def _assert_forwarded(recorded: RecordingUpstream, sent: dict[str, str]) -> None:
    assert recorded.requests, "the upstream was never called"
    received = recorded.requests[-1].headers
    for name, value in sent.items():
        assert received.get(name) == value, name


async def test_productpage_forwards_to_details_and_reviews(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    details = RecordingUpstream(body={"id": 0, "type": "paperback"})
    reviews_upstream = RecordingUpstream(body={"id": "0", "podname": "r", "reviews": []})
    details_app = await serve(details.build_app())
    reviews_app = await serve(reviews_upstream.build_app())
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(
                {**upstream_env("details", details_app), **upstream_env("reviews", reviews_app)}
            )
        )
    )

    async with client.get(f"{page_app.url}/productpage", headers=TRACE) as response:
        assert response.status == 200

    _assert_forwarded(details, TRACE)
    _assert_forwarded(reviews_upstream, TRACE)
    assert details.requests[0].path == "/details/0"
    assert reviews_upstream.requests[0].path == "/reviews/0"


async def test_reviews_forwards_to_ratings_with_end_user(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    ratings = RecordingUpstream(body=RATINGS_BODY)
    ratings_app = await serve(ratings.build_app())
    settings = reviews.ReviewsSettings.from_env(
        {"SERVICE_VERSION": "v2", **upstream_env("ratings", ratings_app)}
    )
    reviews_app = await serve(reviews.build_app(settings))
    sent = {**TRACE, "end-user": "jason"}

    async with client.get(f"{reviews_app.url}/reviews/0", headers=sent) as response:
        assert response.status == 200

    _assert_forwarded(ratings, sent)
    assert ratings.requests[0].path == "/ratings/0"


async def test_signed_in_user_and_trace_reach_ratings_through_the_chain(
    serve: Serve, client: aiohttp.ClientSession
) -> None:
    ratings = RecordingUpstream(body=RATINGS_BODY)
    ratings_app = await serve(ratings.build_app())
    reviews_app = await serve(
        reviews.build_app(
            reviews.ReviewsSettings.from_env(
                {"SERVICE_VERSION": "v3", **upstream_env("ratings", ratings_app)}
            )
        )
    )
    page_app = await serve(
        productpage.build_app(
            productpage.ProductPageSettings.from_env(upstream_env("reviews", reviews_app))
        )
    )
    login = {"username": "jason", "passwd": "x"}
    await client.post(f"{page_app.url}/login", data=login, allow_redirects=False)

    async with client.get(f"{page_app.url}/productpage", headers=TRACE) as response:
        assert '<font color="red">' in await response.text()

    # Istio's fault-injection samples match end-user on the ratings route.
    assert len(ratings.requests) == 1
    _assert_forwarded(ratings, {**TRACE, "end-user": "jason"})


async def test_calls_go_through_http_proxy_to_plain_service_urls(
    serve: Serve, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sidecar = RecordingUpstream(body={"id": "0", "podname": "r", "reviews": []})
    sidecar_app = await serve(sidecar.build_app())
    page_app = await serve(productpage.build_app(productpage.ProductPageSettings.from_env({})))
    monkeypatch.setenv("HTTP_PROXY", sidecar_app.url)

    async with client.get(f"{page_app.url}/productpage") as response:
        assert response.status == 200

    seen = sorted((r.headers["Host"], r.path) for r in sidecar.requests)
    assert seen == [("details:9080", "/details/0"), ("reviews:9080", "/reviews/0")]
