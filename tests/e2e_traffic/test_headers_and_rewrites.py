"""Header operations (request and response, per route and per destination), rewrites, redirects
and direct responses, as the client app sees them and as echo received them."""

from __future__ import annotations

from tests.e2e_traffic.helpers import Traffic

SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""

HEADERS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - headers:
      request:
        set: {x-route: set-by-route, x-replaced: new}
        add: {x-added: by-route}
        remove: [x-secret]
      response:
        set: {x-served-by: mainsail}
        add: {x-response-added: by-route}
        remove: [content-type]
    route:
    - destination: {host: echo, subset: v1}
      weight: 50
      headers:
        request: {set: {x-destination: one}}
        response: {set: {x-answered-by: v1}}
    - destination: {host: echo, subset: v2}
      weight: 50
      headers:
        request: {set: {x-destination: two}, remove: [x-client-only]}
        response: {set: {x-answered-by: v2}}
"""


async def test_request_and_response_headers_per_route_and_per_destination(
    traffic: Traffic,
) -> None:
    await traffic.apply(SUBSETS + "---" + HEADERS)
    sent = {"x-secret": "hunter2", "x-replaced": "old", "x-added": "by-app", "x-client-only": "1"}
    replies = await traffic.many("http://echo:8080/", 40, headers=sent)
    by_version = {r.version: r for r in replies}
    assert set(by_version) == {"v1", "v2"}
    for version, reply in by_version.items():
        received = reply.json()["headers"]
        assert received["x-route"] == "set-by-route" and received["x-replaced"] == "new"
        assert received["x-added"] == "by-app,by-route"  # add appends, set replaces
        assert "x-secret" not in received
        assert received["x-destination"] == {"v1": "one", "v2": "two"}[version]
        assert reply.headers["x-answered-by"] == version
        assert reply.headers["x-served-by"] == "mainsail"
        assert reply.headers["x-response-added"] == "by-route"
        assert "content-type" not in reply.headers
    assert by_version["v1"].json()["headers"]["x-client-only"] == "1"
    assert "x-client-only" not in by_version["v2"].json()["headers"]  # v2's destination removed it


REWRITES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: echo.internal}
    route: [{destination: {host: echo}}]
  - match: [{uri: {regex: "^/v[0-9]+/users/[0-9]+$"}}]
    rewrite: {uriRegexRewrite: {match: "^/v([0-9]+)/users/([0-9]+)$", rewrite: '/users/\\2/api-v\\1'}}
    route: [{destination: {host: echo}}]
  - match: [{uri: {exact: /moved}}]
    redirect: {uri: /new-home, authority: docs.example.com, redirectCode: 308}
  - match: [{uri: {exact: /secure}}]
    redirect: {scheme: https, port: 8443}
  - match: [{uri: {prefix: /maintenance}}]
    directResponse: {status: 503, body: {string: "down for maintenance"}}
  - route: [{destination: {host: echo}}]
"""


async def test_rewrite_uri_and_authority(traffic: Traffic) -> None:
    await traffic.apply(REWRITES)
    reply = await traffic.get("http://echo:8080/old/page?q=1")
    assert reply.status == 200
    seen = reply.json()
    assert (seen["path"], seen["query"], seen["headers"]["host"]) == (
        "/new/page",
        {"q": "1"},
        "echo.internal",
    )
    reply = await traffic.get("http://echo:8080/v2/users/42")
    assert reply.status == 200
    assert reply.json()["path"] == "/users/42/api-v2"
    untouched = await traffic.get("http://echo:8080/other")
    assert untouched.json()["path"] == "/other"
    assert untouched.json()["headers"]["host"] == "echo:8080"


async def test_redirects_and_direct_response(traffic: Traffic) -> None:
    await traffic.apply(REWRITES)
    moved = await traffic.get("http://echo:8080/moved")
    assert moved.status == 308
    assert moved.headers["location"] == "http://docs.example.com/new-home"
    secure = await traffic.get("http://echo:8080/secure")
    assert secure.status == 301
    assert secure.headers["location"] == "https://echo:8443/secure"
    down = await traffic.get("http://echo:8080/maintenance/now")
    assert (down.status, down.body) == (503, "down for maintenance")
