"""ConfigStore: what ``apply``/``delete`` report, all-or-nothing batches, and what survives a
restart of the control plane."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mainsail.config.errors import ConfigError, ErrorCode
from mainsail.config.parse import ParseResult, parse_documents
from mainsail.config.validation import validate_all
from mainsail.sources.store import ConfigRejectedError, ConfigStore, StoreFileError

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

RATINGS_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
  namespace: shop
spec:
  host: ratings
  subsets:
  - name: v1
    labels: {version: v1}
"""

NEGATIVE_WEIGHT = REVIEWS.replace("name: reviews\n", "name: broken\n").replace(
    "subset: v1}", "subset: v1}\n      weight: -5"
)

VS_KEY = ("VirtualService", "default", "reviews")
DR_KEY = ("DestinationRule", "shop", "ratings")


def batch(*docs: str) -> str:
    return "---\n".join(docs)


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_apply_reports_created_then_unchanged_then_configured() -> None:
    store = ConfigStore()
    calls = Calls()
    store.on_change(calls)
    first = store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    assert [(c.key, c.outcome) for c in first] == [(VS_KEY, "created"), (DR_KEY, "created")]
    assert calls.count == 1

    again = store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    assert [c.outcome for c in again] == ["unchanged", "unchanged"]
    assert calls.count == 1, "an unchanged apply must not trigger a push"

    changed = store.apply_text(REVIEWS.replace("subset: v1", "subset: v2"), "a.yaml")
    assert [(c.key, c.outcome) for c in changed] == [(VS_KEY, "configured")]
    assert calls.count == 2
    stored = store.get(VS_KEY)
    assert stored is not None
    assert stored.to_wire()["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v2"


def test_resource_version_grows_and_creation_time_is_kept_on_update() -> None:
    store = ConfigStore()
    store.apply_text(REVIEWS, "a.yaml")
    created = store.get(VS_KEY)
    assert created is not None
    assert created.metadata.resource_version == "1"
    assert created.metadata.creation_timestamp is not None
    store.apply_text(REVIEWS.replace("subset: v1", "subset: v2"), "a.yaml")
    updated = store.get(VS_KEY)
    assert updated is not None
    assert updated.metadata.resource_version == "2"
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp
    assert store.revision == 2


def test_a_clients_creation_timestamp_is_ignored_as_in_kubernetes() -> None:
    store = ConfigStore()
    given = REVIEWS.replace("name: reviews\n", "name: reviews\n  creationTimestamp: '2001-01-01'\n")
    store.apply_text(given, "a.yaml")
    stored = store.get(VS_KEY)
    assert stored is not None and stored.metadata.creation_timestamp is not None
    assert stored.metadata.creation_timestamp.year > 2001


def test_only_metadata_bookkeeping_is_not_a_change() -> None:
    store = ConfigStore()
    store.apply_text(REVIEWS, "a.yaml")
    with_version = REVIEWS.replace("name: reviews\n", "name: reviews\n  resourceVersion: '77'\n")
    assert [c.outcome for c in store.apply_text(with_version, "a.yaml")] == ["unchanged"]
    labelled = REVIEWS.replace("name: reviews\n", "name: reviews\n  labels: {team: a}\n")
    assert [c.outcome for c in store.apply_text(labelled, "a.yaml")] == ["configured"]


def test_a_batch_with_one_invalid_document_changes_nothing() -> None:
    store = ConfigStore(validator=validate_all)
    store.apply_text(REVIEWS, "a.yaml")
    calls = Calls()
    store.on_change(calls)
    before = (store.objects(), store.revision)

    with pytest.raises(ConfigRejectedError) as rejected:
        store.apply_text(
            batch(REVIEWS.replace("subset: v1", "subset: v2"), RATINGS_RULE, NEGATIVE_WEIGHT),
            "b.yaml",
        )
    assert (store.objects(), store.revision) == before
    assert calls.count == 0
    [error] = rejected.value.errors
    assert (error.file, error.document, error.kind, error.name) == (
        "b.yaml",
        3,
        "VirtualService",
        "broken",
    )
    assert error.path == "spec.http[0].route[0].weight"
    assert "b.yaml: document 3 (VirtualService default/broken)" in str(rejected.value)


def test_a_yaml_error_anywhere_rejects_the_whole_batch() -> None:
    store = ConfigStore()
    with pytest.raises(ConfigRejectedError) as rejected:
        store.apply_text(batch(RATINGS_RULE, "spec: [unclosed\n"), "c.yaml")
    assert store.objects() == ()
    [error] = rejected.value.errors
    assert error.code is ErrorCode.YAML and error.document == 2


def test_warnings_do_not_block_an_apply() -> None:
    legacy_gateway = REVIEWS.replace("hosts: [reviews]", "hosts: [reviews]\n  gateways: [gw.shop]")
    store = ConfigStore(validator=validate_all)
    problems = store.check(parse_documents(legacy_gateway, "w.yaml"))
    assert [p.severity for p in problems] == ["warning"]
    assert [c.outcome for c in store.apply_text(legacy_gateway, "w.yaml")] == ["created"]


def test_the_validator_hook_sees_the_batch_and_its_errors_reject_it() -> None:
    seen: list[ParseResult] = []

    def only_shop(parsed: ParseResult) -> tuple[ConfigError, ...]:
        seen.append(parsed)
        return tuple(
            ConfigError(
                reason="only namespace shop is allowed",
                code=ErrorCode.SCHEMA_INVALID,
                path="metadata.namespace",
                kind=r.kind,
                namespace=r.namespace,
                name=r.name,
            )
            for r in parsed.resources
            if r.namespace != "shop"
        )

    store = ConfigStore(validator=only_shop)
    assert [c.outcome for c in store.apply_text(RATINGS_RULE, "ok.yaml")] == ["created"]
    with pytest.raises(ConfigRejectedError, match="only namespace shop is allowed"):
        store.apply_text(REVIEWS, "bad.yaml")
    assert [r.key for r in seen[-1].resources] == [VS_KEY]
    assert [r.key for r in store.objects()] == [DR_KEY]


def test_delete_reports_deleted_and_not_found() -> None:
    store = ConfigStore()
    store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    calls = Calls()
    store.on_change(calls)
    missing = ("VirtualService", "default", "nope")
    changes = store.delete([VS_KEY, missing])
    assert [(c.key, c.outcome) for c in changes] == [(VS_KEY, "deleted"), (missing, "not found")]
    assert [r.key for r in store.objects()] == [DR_KEY]
    assert calls.count == 1
    assert [c.outcome for c in store.delete([VS_KEY])] == ["not found"]
    assert calls.count == 1, "deleting nothing must not trigger a push"


def test_select_filters_by_kind_and_namespace() -> None:
    store = ConfigStore()
    store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    assert [r.key for r in store.select()] == [DR_KEY, VS_KEY]
    assert [r.key for r in store.select(kind="VirtualService")] == [VS_KEY]
    assert [r.key for r in store.select(namespace="shop")] == [DR_KEY]
    assert store.select(kind="Gateway") == ()


def test_a_restarted_store_has_every_object_with_its_times_and_versions(tmp_path: Path) -> None:
    path = tmp_path / "config" / "store.yaml"
    store = ConfigStore(path)
    store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    store.apply_text(REVIEWS.replace("subset: v1", "subset: v2"), "a.yaml")

    reloaded = ConfigStore(path)
    assert reloaded.select() == store.select()
    assert reloaded.revision == store.revision == 3
    vs = reloaded.get(VS_KEY)
    assert vs is not None
    assert vs.metadata.resource_version == "3"
    assert isinstance(vs.metadata.creation_timestamp, datetime)
    # Re-applying what a restarted store holds is not a change.
    assert [
        c.outcome
        for c in reloaded.apply_text(REVIEWS.replace("subset: v1", "subset: v2"), "a.yaml")
    ] == ["unchanged"]


def test_resource_versions_are_never_reused_after_delete_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    store = ConfigStore(path)
    store.apply_text(RATINGS_RULE, "a.yaml")
    store.apply_text(REVIEWS, "a.yaml")
    store.delete([VS_KEY])
    assert store.revision == 3

    reloaded = ConfigStore(path)
    assert reloaded.revision == 3
    reloaded.apply_text(REVIEWS, "a.yaml")
    vs = reloaded.get(VS_KEY)
    assert vs is not None and vs.metadata.resource_version == "4"


def test_deleting_everything_persists_an_empty_store(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    store = ConfigStore(path)
    store.apply_text(REVIEWS, "a.yaml")
    store.delete([VS_KEY])
    assert ConfigStore(path).objects() == ()


def test_a_rejected_batch_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    store = ConfigStore(path, validator=validate_all)
    store.apply_text(REVIEWS, "a.yaml")
    before = path.read_bytes()
    with pytest.raises(ConfigRejectedError):
        store.apply_text(batch(RATINGS_RULE, NEGATIVE_WEIGHT), "b.yaml")
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_a_corrupt_store_file_is_refused_whole_naming_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    ConfigStore(path).apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    text = path.read_text()
    path.write_text(text.replace("host: ratings", "host: [not, a, string]"))
    with pytest.raises(StoreFileError) as refused:
        ConfigStore(path)
    message = str(refused.value)
    assert str(path) in message
    assert "DestinationRule shop/ratings" in message and "spec.host" in message
    # Nothing was rewritten: the user can repair the file.
    assert "host: [not, a, string]" in path.read_text()


def test_a_write_dumps_only_changed_objects_and_keeps_the_others_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Persisting is proportional to the change (a 4000-object store re-sorted and walked every
    object per apply), and the file still round-trips through a restart."""
    path = tmp_path / "store.yaml"
    store = ConfigStore(path)
    store.apply_text(batch(REVIEWS, RATINGS_RULE), "a.yaml")
    dumped: list[object] = []
    real_dump = yaml.dump

    def counting_dump(data: object, **kwargs: Any) -> str:
        dumped.append(data)
        return str(real_dump(data, **kwargs))

    monkeypatch.setattr(yaml, "dump", counting_dump)
    store.apply_text(REVIEWS.replace("subset: v1", "subset: v2"), "a.yaml")
    assert len(dumped) == 1
    text = path.read_text()
    assert text.index("kind: VirtualService") < text.index("kind: DestinationRule")
    store.delete([VS_KEY])
    store.apply_text(REVIEWS, "b.yaml")
    assert len(dumped) == 2
    reloaded = ConfigStore(path)
    assert reloaded.select() == store.select()
    assert reloaded.revision == store.revision == 5
