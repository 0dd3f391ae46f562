"""HTTP API of the control plane. JSON in and out; config errors map to 422 in one place."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from mainsail import monitoring
from mainsail.api.ca_routes import add_ca_routes
from mainsail.ca.service import CertificateAuthority
from mainsail.config.errors import ConfigError
from mainsail.config.kube.secret import Secret
from mainsail.config.parse import ParseResult, parse_documents
from mainsail.config.schema import lookup
from mainsail.sources.store import Change, ConfigRejectedError, ConfigStore


class BadRequestError(Exception):
    """The request itself is malformed (not JSON, missing fields)."""


class ProxyStatusSource(Protocol):
    def __call__(self) -> Sequence[dict[str, Any]]: ...


class ServiceEnvSource(Protocol):
    """The ``<SVC>_SERVICE_HOST``/``_PORT`` variables of a local pod (see xds.tcp_outbound)."""

    def __call__(
        self, namespace: str, ip: str, labels: dict[str, str], reserved: frozenset[int]
    ) -> dict[str, str]: ...


def _change_json(change: Change) -> dict[str, str]:
    kind, namespace, name = change.key
    return {"kind": kind, "namespace": namespace, "name": name, "outcome": change.outcome}


def _errors_json(errors: Sequence[ConfigError]) -> list[dict[str, Any]]:
    return [
        {
            # Severity has its own field; the message is where and what only.
            "message": str(dataclasses.replace(e, severity="error")),
            "code": str(e.code),
            "path": e.path,
            "file": e.file,
            "document": e.document,
            "kind": e.kind,
            "namespace": e.namespace,
            "name": e.name,
            "severity": e.severity,
        }
        for e in errors
    ]


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequestError(f"request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequestError("request body must be a JSON object")
    return body


def _text_field(body: dict[str, Any], name: str) -> str:
    if name not in body:
        raise BadRequestError(f"field {name!r} is required")
    value = body[name]
    if not isinstance(value, str):
        raise BadRequestError(f"field {name!r} must be a string, not {_json_type(value)}")
    return value


def _optional_text(body: dict[str, Any], name: str, default: str) -> str:
    if body.get(name) is None:
        return default
    return _text_field(body, name) or default


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequestError(f"field {name!r} must be true or false, not {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _keys_field(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    items = body.get("keys", [])
    if not isinstance(items, list):
        raise BadRequestError(f"field 'keys' must be an array, not {_json_type(items)}")
    keys = []
    for index, item in enumerate(items):
        if not (
            isinstance(item, list)
            and len(item) == 3
            and all(isinstance(p, str) and p for p in item)
        ):
            raise BadRequestError(
                f"keys[{index}] must be [kind, namespace, name] (non-empty strings), got "
                f"{json.dumps(item)}"
            )
        schema = lookup(item[0])
        if schema is None:
            raise BadRequestError(f"keys[{index}]: unknown kind {item[0]!r}")
        keys.append((schema.kind, item[1], item[2]))
    return keys


def _parse_body(body: dict[str, Any]) -> ParseResult:
    return parse_documents(
        _text_field(body, "text"),
        _optional_text(body, "source", "<request>"),
        _optional_text(body, "namespace", "default"),
    )


def build_app(
    store: ConfigStore,
    proxy_status: ProxyStatusSource,
    service_env: ServiceEnvSource | None = None,
    ca: CertificateAuthority | None = None,
) -> web.Application:
    routes = web.RouteTableDef()
    if ca is not None:
        add_ca_routes(routes, ca)

    @routes.get("/healthz")
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "revision": store.revision})

    @routes.post("/apis/apply")
    async def apply(request: web.Request) -> web.Response:
        body = await _json_body(request)
        parsed = _parse_body(body)
        dry_run = _flag(body, "dry_run")
        problems = store.check(parsed)
        warnings = [p for p in problems if p.severity == "warning"]
        if dry_run:
            errors = [p for p in problems if p.severity == "error"]
            status = 422 if errors else 200
            return web.json_response(
                {"errors": _errors_json(errors), "warnings": _errors_json(warnings)},
                status=status,
            )
        changes = store.apply(parsed)
        return web.json_response(
            {"changes": [_change_json(c) for c in changes], "warnings": _errors_json(warnings)}
        )

    @routes.post("/apis/delete")
    async def delete(request: web.Request) -> web.Response:
        body = await _json_body(request)
        if "text" not in body and "keys" not in body:
            raise BadRequestError("give 'text' (documents) or 'keys' ([kind, namespace, name])")
        keys = _keys_field(body)
        if "text" in body:
            parsed = _parse_body(body)
            if parsed.errors:
                raise ConfigRejectedError(parsed.errors)
            keys = [r.key for r in parsed.resources] + keys
        changes = store.delete(keys)
        return web.json_response({"changes": [_change_json(c) for c in changes]})

    @routes.get("/apis/config")
    async def list_config(request: web.Request) -> web.Response:
        kind_word = request.query.get("kind")
        kind = None
        if kind_word:
            schema = lookup(kind_word)
            if schema is None:
                raise BadRequestError(f"unknown kind {kind_word!r}")
            kind = schema.kind
        namespace = request.query.get("namespace") or None
        # A Secret's key material never leaves through the listing (``mainsail get``).
        items = [
            r.redacted_wire() if isinstance(r, Secret) else r.to_wire()
            for r in store.select(kind, namespace)
        ]
        return web.json_response({"items": items, "revision": store.revision})

    @routes.post("/apis/service-env")
    async def env(request: web.Request) -> web.Response:
        if service_env is None:
            raise BadRequestError("this control plane does not place local pods")
        body = await _json_body(request)
        labels = body.get("labels", {})
        reserved = body.get("reserved", [])
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise BadRequestError("field 'labels' must be an object of strings")
        if not isinstance(reserved, list) or not all(isinstance(p, int) for p in reserved):
            raise BadRequestError("field 'reserved' must be a list of port numbers")
        variables = service_env(
            _text_field(body, "namespace"), _text_field(body, "ip"), labels, frozenset(reserved)
        )
        return web.json_response({"env": variables})

    @routes.get("/metrics")
    async def metrics(_: web.Request) -> web.Response:
        # istiod's monitoring page (``pilot_*``, ``citadel_*``), Prometheus text format.
        return web.Response(
            body=monitoring.render().encode(), headers={"Content-Type": monitoring.CONTENT_TYPE}
        )

    @routes.get("/apis/proxy-status")
    async def status(_: web.Request) -> web.Response:
        return web.json_response({"proxies": list(proxy_status())})

    app = web.Application(middlewares=[_error_middleware], client_max_size=16 * 1024 * 1024)
    app.add_routes(routes)
    return app


@web.middleware
async def _error_middleware(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ConfigRejectedError as exc:
        return web.json_response({"errors": _errors_json(exc.errors)}, status=422)
    except BadRequestError as exc:
        return web.json_response({"errors": [{"message": str(exc)}]}, status=400)
