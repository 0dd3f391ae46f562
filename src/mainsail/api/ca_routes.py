"""The CA's part of the control-plane API: the trust bundle, root rotation, revocation and
what was issued. CA errors map to HTTP status here (its own refusals are 409: the request was
understood but the CA's state does not allow it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from cryptography import x509

from mainsail.ca.errors import CaStateError
from mainsail.ca.ledger import IssuedRecord, Revocation
from mainsail.ca.pki import cert_pem, fingerprint
from mainsail.ca.service import CertificateAuthority


def root_json(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "serial": f"{cert.serial_number:x}",
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "fingerprint_sha256": fingerprint(cert),
        "pem": cert_pem(cert),
    }


def _issued_json(record: IssuedRecord) -> dict[str, str]:
    return record.to_json()


def _revocation_json(revocation: Revocation) -> dict[str, Any]:
    return {
        "workload": revocation.workload,
        "revoked_at": revocation.revoked_at.isoformat(),
        "serials": list(revocation.serials),
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"errors": [{"message": message}]}, status=status)


async def _body(request: web.Request) -> dict[str, Any] | None:
    """The JSON object sent (an empty body is ``{}``), or None when it is not one."""
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def add_ca_routes(routes: web.RouteTableDef, ca: CertificateAuthority) -> None:
    @routes.get("/apis/ca/roots")
    async def roots(_: web.Request) -> web.Response:
        material = ca.material
        current = material.certificate
        return web.json_response(
            {
                "trust_domain": ca.settings.trust_domain,
                "plugged_in": material.plugged_in,
                "signing": root_json(current),
                "roots": [root_json(c) for c in ca.roots()],
                "bundle_pem": ca.roots_pem(),
            }
        )

    @routes.post("/apis/ca/rotate-root")
    async def rotate(request: web.Request) -> web.Response:
        body = await _body(request)
        overlap = None if body is None else body.get("overlap_seconds")
        if body is None or (
            overlap is not None
            and (isinstance(overlap, bool) or not isinstance(overlap, int | float) or overlap < 0)
        ):
            return _error(400, "body must be {'overlap_seconds': <non-negative number>}")
        try:
            root = ca.rotate_root(None if overlap is None else timedelta(seconds=overlap))
        except CaStateError as exc:
            return _error(409, str(exc))
        return web.json_response(
            {"root": root_json(root), "roots": [root_json(c) for c in ca.roots()]}
        )

    @routes.post("/apis/ca/revoke")
    async def revoke(request: web.Request) -> web.Response:
        body = await _body(request) or {}
        namespace, account = body.get("namespace"), body.get("service_account")
        if not (isinstance(namespace, str) and namespace and isinstance(account, str) and account):
            return _error(400, "body must be {'namespace': <ns>, 'service_account': <sa>}")
        return web.json_response(_revocation_json(ca.revoke(namespace, account)))

    @routes.get("/apis/ca/issued")
    async def issued(request: web.Request) -> web.Response:
        every = request.query.get("all") in ("1", "true")
        return web.json_response(
            {
                "issued": [_issued_json(r) for r in ca.issued(unexpired=not every)],
                "revoked": [_revocation_json(r) for r in ca.revocations()],
            }
        )
