"""A JWT issuer for tests: an RSA key, its JWKS, tokens minted with PyJWT, and an HTTP server on
a loopback address serving the JWKS (``/jwks``) and OpenID discovery
(``/.well-known/openid-configuration``), so the control plane fetches keys like from a real IdP.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from mainsail.testing.loopback import random_loopback_address


@dataclass(slots=True)
class JwtIssuer:
    """One signing key; ``issuer`` is the ``iss`` it writes (set once its server is up)."""

    issuer: str = "https://issuer.test"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> str:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return json.dumps({"keys": [public]})

    def token(
        self,
        subject: str = "alice",
        *,
        audience: str | list[str] | None = None,
        issuer: str | None = None,
        expires_in: float = 3600.0,
        key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer if issuer is None else issuer,
            "sub": subject,
            "iat": now,
            "exp": now + int(expires_in),
            **claims,
        }
        if audience is not None:
            payload["aud"] = audience
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@dataclass(slots=True)
class JwksServer:
    """Serves one issuer's JWKS on a random loopback address; ``fail`` makes it answer 500."""

    issuer: JwtIssuer
    fail: bool = False
    requests: int = 0
    _runner: web.AppRunner | None = None
    url: str = ""

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/jwks"

    async def start(self) -> JwksServer:
        app = web.Application()
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host = random_loopback_address()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here
        port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.fail:
            return web.Response(status=500, text="down")
        return web.Response(text=self.issuer.jwks(), content_type="application/json")

    async def _discovery(self, request: web.Request) -> web.Response:
        body = {"issuer": self.issuer.issuer, "jwks_uri": self.jwks_uri}
        return web.Response(text=json.dumps(body), content_type="application/json")
