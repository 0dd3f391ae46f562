"""A small synchronous client of the control-plane API, for the CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """The control plane answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int = 0, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.errors = errors or []


@dataclass(frozen=True, slots=True)
class ApiClient:
    base_url: str
    timeout: float = 10.0

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            errors = _errors_of(exc.read())
            message = "; ".join(str(e.get("message")) for e in errors) or (
                f"the control plane at {self.base_url} answered {method} {path} with {exc}"
            )
            raise ApiError(message, exc.code, errors) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"cannot reach the control plane at {self.base_url}: {exc}") from exc

    def apply(
        self, text: str, source: str, namespace: str = "default", dry_run: bool = False
    ) -> Any:
        return self._call(
            "POST",
            "/apis/apply",
            {"text": text, "source": source, "namespace": namespace, "dry_run": dry_run},
        )

    def delete_text(self, text: str, source: str, namespace: str = "default") -> Any:
        return self._call(
            "POST", "/apis/delete", {"text": text, "source": source, "namespace": namespace}
        )

    def delete_keys(self, keys: list[tuple[str, str, str]]) -> Any:
        return self._call("POST", "/apis/delete", {"keys": [list(k) for k in keys]})

    def list_config(self, kind: str | None = None, namespace: str | None = None) -> Any:
        query = urllib.parse.urlencode(
            [(k, v) for k, v in (("kind", kind), ("namespace", namespace)) if v is not None]
        )
        return self._call("GET", "/apis/config" + (f"?{query}" if query else ""))

    def service_env(
        self, namespace: str, ip: str, labels: dict[str, str], reserved: list[int]
    ) -> dict[str, str]:
        result = self._call(
            "POST",
            "/apis/service-env",
            {"namespace": namespace, "ip": ip, "labels": labels, "reserved": reserved},
        )
        return {str(k): str(v) for k, v in result["env"].items()}

    def proxy_status(self) -> Any:
        return self._call("GET", "/apis/proxy-status")

    def healthz(self) -> Any:
        return self._call("GET", "/healthz")

    # --- the mesh CA (``api.ca_routes``)

    def ca_roots(self) -> Any:
        return self._call("GET", "/apis/ca/roots")

    def ca_rotate_root(self, overlap_seconds: float | None = None) -> Any:
        body = {} if overlap_seconds is None else {"overlap_seconds": overlap_seconds}
        return self._call("POST", "/apis/ca/rotate-root", body)

    def ca_revoke(self, namespace: str, service_account: str) -> Any:
        body = {"namespace": namespace, "service_account": service_account}
        return self._call("POST", "/apis/ca/revoke", body)

    def ca_issued(self, include_expired: bool = False) -> Any:
        return self._call("GET", "/apis/ca/issued" + ("?all=1" if include_expired else ""))


def _errors_of(body: bytes) -> list[dict[str, Any]]:
    """The ``errors`` of an error response; none when it is not the API's JSON (a proxy's page)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return []
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
