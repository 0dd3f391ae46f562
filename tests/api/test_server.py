"""The control plane's HTTP API: what a client sees for good and bad requests.

Bad input of every kind answers 400 (the request) or 422 (the config) with a message naming what
is wrong and where, and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from mainsail.api.client import ApiClient, ApiError
from mainsail.api.server import build_app
from mainsail.config.validation import validate_all
from mainsail.sources.store import ConfigStore
from mainsail.testing.ports import free_port

REVIEWS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
"""

RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
"""

BAD_WEIGHT = REVIEWS.replace("name: reviews\n", "name: broken\n").replace(
    "subset: v1}", "subset: v1}\n      weight: -5"
)

PROXIES = [{"proxy": "ratings-v1-0.default", "mode": "DELTA", "types": {}}]


class Api:
    def __init__(self, client: TestClient[Any, Any], store: ConfigStore) -> None:
        self.client = client
        self.store = store

    async def post(self, path: str, body: object, status: int) -> Any:
        response = await self.client.post(path, json=body)
        payload = await response.json()
        assert response.status == status, payload
        return payload

    async def post_raw(self, path: str, data: bytes, status: int) -> Any:
        response = await self.client.post(
            path, data=data, headers={"content-type": "application/json"}
        )
        payload = await response.json()
        assert response.status == status, payload
        return payload

    async def listed(self, **query: str) -> list[dict[str, Any]]:
        response = await self.client.get("/apis/config", params=query)
        assert response.status == 200
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = ConfigStore(validator=validate_all)
    async with TestClient(TestServer(build_app(store, lambda: PROXIES))) as client:
        yield Api(client, store)


def only_message(payload: dict[str, Any]) -> str:
    [error] = payload["errors"]
    return str(error["message"])


async def test_healthz_reports_the_store_revision(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert await response.json() == {"status": "ok", "revision": 0}
    await api.post("/apis/apply", {"text": REVIEWS}, 200)
    response = await api.client.get("/healthz")
    assert (await response.json())["revision"] == 1


async def test_apply_reports_each_objects_outcome(api: Api) -> None:
    body = {"text": REVIEWS + "---\n" + RULE, "source": "r.yaml", "namespace": "shop"}
    first = await api.post("/apis/apply", body, 200)
    assert first == {
        "changes": [
            {
                "kind": "VirtualService",
                "namespace": "shop",
                "name": "reviews",
                "outcome": "created",
            },
            {
                "kind": "DestinationRule",
                "namespace": "shop",
                "name": "reviews",
                "outcome": "created",
            },
        ],
        "warnings": [],
    }
    again = await api.post("/apis/apply", body, 200)
    assert [c["outcome"] for c in again["changes"]] == ["unchanged", "unchanged"]


async def test_dry_run_checks_and_changes_nothing(api: Api) -> None:
    ok = await api.post("/apis/apply", {"text": REVIEWS, "dry_run": True}, 200)
    assert ok == {"errors": [], "warnings": []}
    bad = await api.post("/apis/apply", {"text": BAD_WEIGHT, "dry_run": True}, 422)
    assert bad["errors"][0]["path"] == "spec.http[0].route[0].weight"
    assert await api.listed() == []


async def test_warnings_come_back_with_their_own_severity(api: Api) -> None:
    legacy = REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  gateways: [gw.shop]")
    result = await api.post("/apis/apply", {"text": legacy, "source": "w.yaml"}, 200)
    [warning] = result["warnings"]
    assert warning["severity"] == "warning"
    assert warning["path"] == "spec.gateways[0]"
    assert warning["message"].startswith("w.yaml: document 1 (VirtualService default/reviews)")
    assert "legacy FQDN form" in warning["message"]
    assert "warning:" not in warning["message"], "severity is a field, not part of the message"


async def test_list_filters_by_kind_word_and_namespace(api: Api) -> None:
    await api.post("/apis/apply", {"text": REVIEWS + "---\n" + RULE}, 200)
    await api.post("/apis/apply", {"text": RULE, "namespace": "shop"}, 200)
    assert [i["kind"] for i in await api.listed(kind="vs")] == ["VirtualService"]
    rules = await api.listed(kind="destinationrules")
    assert [i["metadata"]["namespace"] for i in rules] == ["default", "shop"]
    assert len(await api.listed(namespace="shop")) == 1
    item = (await api.listed(kind="VirtualService"))[0]
    assert item["metadata"]["resourceVersion"] == "1"
    assert item["metadata"]["creationTimestamp"]


async def test_delete_by_documents_and_by_keys(api: Api) -> None:
    await api.post("/apis/apply", {"text": REVIEWS + "---\n" + RULE}, 200)
    by_text = await api.post("/apis/delete", {"text": RULE}, 200)
    assert by_text["changes"] == [
        {"kind": "DestinationRule", "namespace": "default", "name": "reviews", "outcome": "deleted"}
    ]
    by_key = await api.post(
        "/apis/delete", {"keys": [["vs", "default", "reviews"], ["vs", "default", "x"]]}, 200
    )
    assert [c["outcome"] for c in by_key["changes"]] == ["deleted", "not found"]
    assert await api.listed() == []


async def test_proxy_status_lists_what_the_source_gives(api: Api) -> None:
    response = await api.client.get("/apis/proxy-status")
    assert await response.json() == {"proxies": PROXIES}


# --- bad input: 400 for a malformed request, 422 for bad config; nothing changes.


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("/apis/apply", b"kind: VirtualService", "request body is not JSON"),
        ("/apis/apply", b'["text"]', "request body must be a JSON object"),
        ("/apis/delete", b"{not json", "request body is not JSON"),
        ("/apis/delete", b"\xff\xfe", "request body is not JSON"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(
    api: Api, path: str, data: bytes, expected: str
) -> None:
    payload = await api.post_raw(path, data, 400)
    assert expected in only_message(payload)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "field 'text' is required"),
        ({"text": 5}, "field 'text' must be a string, not a number"),
        ({"text": REVIEWS, "source": ["a"]}, "field 'source' must be a string, not an array"),
        ({"text": REVIEWS, "namespace": 7}, "field 'namespace' must be a string, not a number"),
        ({"text": REVIEWS, "dry_run": "no"}, "field 'dry_run' must be true or false, not a string"),
    ],
)
async def test_apply_fields_of_the_wrong_type_are_a_400(
    api: Api, body: dict[str, Any], expected: str
) -> None:
    payload = await api.post("/apis/apply", body, 400)
    assert only_message(payload) == expected
    assert await api.listed() == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "give 'text' (documents) or 'keys' ([kind, namespace, name])"),
        ({"keys": "vs/default/reviews"}, "field 'keys' must be an array, not a string"),
        ({"keys": 3}, "field 'keys' must be an array, not a number"),
        ({"keys": [["vs", "default"]]}, "keys[0] must be [kind, namespace, name]"),
        (
            {"keys": [["vs", "default", "reviews"], ["vs", "", "x"]]},
            'keys[1] must be [kind, namespace, name] (non-empty strings), got ["vs", "", "x"]',
        ),
        ({"keys": [["vs", "default", 1]]}, "keys[0] must be [kind, namespace, name]"),
        ({"keys": [["Widget", "default", "x"]]}, "keys[0]: unknown kind 'Widget'"),
    ],
)
async def test_malformed_delete_keys_are_a_400_and_delete_nothing(
    api: Api, body: dict[str, Any], expected: str
) -> None:
    await api.post("/apis/apply", {"text": REVIEWS}, 200)
    payload = await api.post("/apis/delete", body, 400)
    assert expected in only_message(payload)
    assert len(await api.listed()) == 1


async def test_listing_an_unknown_kind_is_a_400(api: Api) -> None:
    response = await api.client.get("/apis/config", params={"kind": "widgets"})
    assert response.status == 400
    assert only_message(await response.json()) == "unknown kind 'widgets'"


async def test_invalid_yaml_is_a_422_naming_file_document_and_line(api: Api) -> None:
    text = REVIEWS + "---\nkind: [unclosed\n"
    payload = await api.post("/apis/apply", {"text": text, "source": "mine.yaml"}, 422)
    [error] = payload["errors"]
    assert (error["file"], error["document"], error["code"]) == ("mine.yaml", 2, "MS-YAML")
    assert error["message"].startswith("mine.yaml: document 2: YAML syntax error at line 12")
    assert "flow sequence started at line 11" in error["message"]
    assert await api.listed() == []


async def test_an_unknown_kind_is_a_422_with_a_suggestion(api: Api) -> None:
    text = RULE.replace("kind: DestinationRule", "kind: DestinationRules")
    payload = await api.post("/apis/apply", {"text": text, "source": "k.yaml"}, 422)
    [error] = payload["errors"]
    assert error["path"] == "kind" and error["code"] == "MS-UNKNOWN-KIND"
    assert "did you mean DestinationRule?" in error["message"]


async def test_invalid_config_is_a_422_naming_every_error_and_changes_nothing(api: Api) -> None:
    await api.post("/apis/apply", {"text": RULE}, 200)
    revision = api.store.revision
    unknown_field = RULE.replace("host: reviews", "host: reviews\n  hots: 1")
    text = REVIEWS + "---\n" + BAD_WEIGHT + "---\n" + unknown_field
    payload = await api.post("/apis/apply", {"text": text, "source": "b.yaml"}, 422)
    found = {(e["document"], e["kind"], e["name"], e["path"]) for e in payload["errors"]}
    assert found == {
        (2, "VirtualService", "broken", "spec.http[0].route[0].weight"),
        (3, "DestinationRule", "reviews", "spec.hots"),
    }
    assert all(e["file"] == "b.yaml" and e["severity"] == "error" for e in payload["errors"])
    assert api.store.revision == revision
    assert [i["kind"] for i in await api.listed()] == ["DestinationRule"]


async def test_delete_with_invalid_documents_is_a_422_and_deletes_nothing(api: Api) -> None:
    await api.post("/apis/apply", {"text": REVIEWS}, 200)
    text = REVIEWS + "---\n- not a mapping\n"
    payload = await api.post("/apis/delete", {"text": text, "source": "d.yaml"}, 422)
    assert "d.yaml: document 2: a document must be a mapping" in only_message(payload)
    assert len(await api.listed()) == 1


# --- the CLI's client against a real server on an OS-chosen port


async def test_client_turns_error_answers_into_api_errors(api: Api) -> None:
    client = ApiClient(str(api.client.make_url("")))
    with pytest.raises(ApiError) as rejected:
        await asyncio.to_thread(client.apply, BAD_WEIGHT, "c.yaml")
    assert rejected.value.status == 422
    assert "c.yaml: document 1 (VirtualService default/broken)" in str(rejected.value)
    assert rejected.value.errors[0]["path"] == "spec.http[0].route[0].weight"
    # A non-API error page (here aiohttp's 404) still gives a readable error, not a traceback.
    with pytest.raises(ApiError) as missing:
        await asyncio.to_thread(client._call, "GET", "/apis/nothing-here")
    assert missing.value.status == 404
    assert "answered GET /apis/nothing-here with HTTP Error 404" in str(missing.value)


async def test_client_names_the_address_it_cannot_reach() -> None:
    client = ApiClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ApiError, match=r"cannot reach the control plane at http://127\.0\.0\.1:"):
        await asyncio.to_thread(client.healthz)
