"""A stand-in upstream that answers canned JSON and records what it was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    method: str
    path: str
    headers: CIMultiDict[str]


@dataclass(slots=True, kw_only=True)
class RecordingUpstream:
    body: Any
    status: int = 200
    requests: list[RecordedRequest] = field(default_factory=list)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests.append(
            RecordedRequest(
                method=request.method, path=request.path, headers=CIMultiDict(request.headers)
            )
        )
        return web.json_response(self.body, status=self.status)
