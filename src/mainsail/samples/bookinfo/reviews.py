"""BookInfo reviews: ``GET /reviews/<id>`` returns two reviews, with stars from v2 on.

Environment: ``SERVICE_VERSION`` (v1, v2, v3; default v1), ``ENABLE_RATINGS`` (default true for
v2 and v3), ``STAR_COLOR`` (default black, red for v3), ``RATINGS_HOSTNAME`` /
``RATINGS_SERVICE_PORT`` / ``SERVICES_DOMAIN``, ``POD_NAME`` (else ``HOSTNAME``, else the host
name), ``CLUSTER_NAME``, ``INSTANCE_IP``, ``PORT``, ``HTTP_PROXY``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mainsail.samples.bookinfo._propagation import forwarded_headers
from mainsail.samples.bookinfo._serve import Listen, add_health, run
from mainsail.samples.bookinfo._upstream import CLIENT, client_session, get_json, service_url

RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"

REVIEWS: tuple[tuple[str, str], ...] = (
    (
        "Reviewer1",
        "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    ),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to "
        "other plays by Shakespeare.",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewsSettings:
    version: str = "v1"
    ratings_enabled: bool = False
    star_color: str = "black"
    ratings_url: str = "http://ratings:9080"
    pod_name: str = "reviews"
    # Istio's Java app prints an unset CLUSTER_NAME as "null"; productpage hides that value.
    cluster_name: str = "null"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReviewsSettings:
        version = env.get("SERVICE_VERSION") or "v1"
        enable = env.get("ENABLE_RATINGS")
        return cls(
            version=version,
            ratings_enabled=enable.lower() == "true" if enable else version in ("v2", "v3"),
            star_color=env.get("STAR_COLOR") or ("red" if version == "v3" else "black"),
            ratings_url=service_url(env, "ratings"),
            pod_name=env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(),
            cluster_name=env.get("CLUSTER_NAME") or "null",
        )

    @property
    def ratings_timeout(self) -> float:
        """Seconds to wait for ratings, as Istio's images do.

        The fault-injection task depends on it: a 7 s delay on ratings outlasts productpage's
        two 3 s tries with black stars (10 s), and fails inside reviews with red (2.5 s).
        """
        return 10.0 if self.star_color == "black" else 2.5


_SETTINGS: web.AppKey[ReviewsSettings] = web.AppKey("settings", ReviewsSettings)


def reviews_body(
    settings: ReviewsSettings, product_id: int, stars: Mapping[str, int]
) -> dict[str, Any]:
    """The JSON reviews answers; ``stars`` is empty when ratings failed or are disabled."""
    reviews: list[dict[str, Any]] = []
    for reviewer, text in REVIEWS:
        review: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if settings.ratings_enabled:
            if reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": settings.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
        reviews.append(review)
    return {
        "id": str(product_id),
        "podname": settings.pod_name,
        "clustername": settings.cluster_name,
        "reviews": reviews,
    }


async def _fetch_stars(
    request: web.Request, settings: ReviewsSettings, product_id: int
) -> dict[str, int]:
    status, body = await get_json(
        request.app[CLIENT],
        f"{settings.ratings_url}/ratings/{product_id}",
        headers=forwarded_headers(request.headers),
        timeout=settings.ratings_timeout,
    )
    ratings = body.get("ratings") if status == 200 and isinstance(body, dict) else None
    if not isinstance(ratings, dict):
        return {}
    return {
        reviewer: stars
        for reviewer, stars in ratings.items()
        if isinstance(stars, int) and not isinstance(stars, bool)
    }


async def _reviews(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    try:
        product_id = int(request.match_info["id"])
    except ValueError:
        return web.json_response({"error": "please provide numeric product id"}, status=400)
    stars = await _fetch_stars(request, settings, product_id) if settings.ratings_enabled else {}
    return web.json_response(reviews_body(settings, product_id, stars))


def build_app(settings: ReviewsSettings) -> web.Application:
    app = web.Application()
    app[_SETTINGS] = settings
    app.cleanup_ctx.append(client_session)
    add_health(app, "Reviews")
    app.router.add_get("/reviews/{id}", _reviews)
    return app


def main() -> None:
    run(build_app(ReviewsSettings.from_env(os.environ)), Listen.from_env(os.environ), "reviews")


if __name__ == "__main__":
    main()
