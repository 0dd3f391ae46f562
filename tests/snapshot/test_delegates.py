"""VirtualService delegation (Istio's ``mergeVirtualServicesIfNeeded`` / ``mergeHTTPRoute``)."""

from __future__ import annotations

from datetime import timedelta

from mainsail.config.istio.virtual_service import VirtualService
from mainsail.config.parse import parse_documents
from mainsail.snapshot.mesh_snapshot import build_snapshot

ROOT = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: front}
spec:
  hosts: [shop.example.com]
  http:
  - name: api
    match: [{uri: {prefix: /api}, headers: {x-team: {exact: a}}}]
    delegate: {name: api, namespace: team}
    timeout: 3s
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}]}
  - name: rest
    route: [{destination: {host: web}}]
---
"""


def _vs(name: str, namespace: str, body: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
{body}
---
"""


DELEGATE = _vs(
    "api",
    "team",
    """  http:
  - name: v2
    match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: api-v2}}]
    timeout: 1s
  - name: wrong
    match: [{uri: {prefix: /other}}]
    route: [{destination: {host: other}}]
  - route: [{destination: {host: api-v1}}]""",
)


def _merged(*docs: str) -> tuple[VirtualService, ...]:
    parsed = parse_documents("".join(docs))
    assert parsed.ok, parsed.errors
    return build_snapshot(parsed.resources).virtual_services


def test_delegate_routes_replace_the_root_route_with_matches_anded() -> None:
    (root,) = _merged(ROOT, DELEGATE)  # the delegate itself produces nothing
    names = [r.name for r in root.spec.http]
    assert names == ["api-v2", "api", "rest"]  # "wrong" conflicts with /api and is dropped
    v2, v1, rest = root.spec.http
    (match,) = v2.match
    assert match.uri is not None and match.uri.prefix == "/api/v2"
    assert match.headers["x-team"].exact == "a"  # the root's header is ANDed in
    (match,) = v1.match
    assert match.uri is not None and match.uri.prefix == "/api"
    assert v1.delegate is None and rest.route[0].destination.host == "web"


def test_delegate_routes_inherit_what_they_leave_unset_and_resolve_in_their_namespace() -> None:
    (root,) = _merged(ROOT, DELEGATE)
    v2, v1, _ = root.spec.http
    assert v2.timeout == timedelta(seconds=1)  # its own
    assert v1.timeout == timedelta(seconds=3)  # the root's
    assert (
        v1.cors_policy is not None and v1.cors_policy.allow_origins[0].exact == "https://a.example"
    )
    assert v1.route[0].destination.host == "api-v1.team.svc.cluster.local"


def test_missing_or_unexported_delegate_drops_only_that_route() -> None:
    private = _vs(
        "api", "team", "  exportTo: ['.']\n  http:\n  - route: [{destination: {host: x}}]"
    )
    for docs in ((ROOT,), (ROOT, private)):
        (root,) = _merged(*docs)
        assert [r.name for r in root.spec.http] == ["rest"]


def test_a_delegate_match_conflicting_with_every_root_match_is_dropped() -> None:
    conflicting = _vs(
        "api",
        "team",
        """  http:
  - match: [{uri: {regex: /api/.*}}]
    route: [{destination: {host: a}}]
  - match: [{headers: {x-team: {exact: b}}}]
    route: [{destination: {host: b}}]
  - match: [{uri: {exact: /api/health}, ignoreUriCase: true}]
    route: [{destination: {host: c}}]
  - match: [{uri: {exact: /api/health}}]
    route: [{destination: {host: d}}]""",
    )
    (root,) = _merged(ROOT, conflicting)
    hosts = [r.route[0].destination.host for r in root.spec.http]
    assert hosts == ["d.team.svc.cluster.local", "web"]
