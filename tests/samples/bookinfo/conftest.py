"""Fixtures: BookInfo apps served in-process on OS-chosen ports, wired by their env variables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from mainsail.samples.bookinfo import details, productpage, ratings, reviews
from mainsail.samples.bookinfo._serve import Listen, start

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass(slots=True)
class Running:
    runner: web.AppRunner
    port: int
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


Serve = Callable[[web.Application], Awaitable[Running]]


def upstream_env(service: str, running: Running) -> dict[str, str]:
    """The variables that point a BookInfo app's calls to ``service`` at ``running``."""
    prefix = service.upper()
    return {f"{prefix}_HOSTNAME": "127.0.0.1", f"{prefix}_SERVICE_PORT": str(running.port)}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The apps trust the environment; without a mesh they must dial each other directly.
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    running: list[Running] = []

    async def serve_app(app: web.Application) -> Running:
        runner, port = await start(app, Listen(host="127.0.0.1", port=0))
        running.append(Running(runner, port))
        return running[-1]

    yield serve_app
    for app in reversed(running):
        await app.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: keep cookies set by a numeric host such as 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@dataclass(frozen=True, slots=True, kw_only=True)
class BookInfo:
    productpage: Running
    details: Running
    reviews: Running
    ratings: Running


async def start_bookinfo(serve: Serve, version: str = "v1") -> BookInfo:
    """All four apps with reviews at ``version``, wired as a mesh-less chain."""
    ratings_app = await serve(ratings.build_app())
    details_app = await serve(details.build_app())
    reviews_env = {"SERVICE_VERSION": version, **upstream_env("ratings", ratings_app)}
    reviews_app = await serve(reviews.build_app(reviews.ReviewsSettings.from_env(reviews_env)))
    page_env = {
        **upstream_env("details", details_app),
        **upstream_env("reviews", reviews_app),
        **upstream_env("ratings", ratings_app),
    }
    page_app = await serve(
        productpage.build_app(productpage.ProductPageSettings.from_env(page_env))
    )
    return BookInfo(
        productpage=page_app, details=details_app, reviews=reviews_app, ratings=ratings_app
    )
