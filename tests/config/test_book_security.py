"""The book's legacy security examples (samples/book/security/) are accepted and converted to
what Istio's migration rules say (tests/config/book_security_expected.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mainsail.config.legacy.convert import convert_legacy, is_legacy
from mainsail.config.parse import load_paths
from mainsail.config.validation import validate_all

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "samples" / "book" / "security"
EXPECTED: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "book_security_expected.yaml").read_text()
)
RBAC_TOGETHER = ("10-rbacconfig-on.yaml", "12-servicerole-foo-viewer.yaml",
                 "13-servicerolebinding-bar-foo-viewer.yaml")  # fmt: skip


def _examples() -> list[Path]:
    return sorted(BOOK.glob("[0-9]*.yaml"))


def test_every_legacy_kind_of_the_book_is_here() -> None:
    kinds = {r.kind for p in _examples() for r in load_paths([p]).resources if is_legacy(r)}
    assert kinds == {"Policy", "MeshPolicy", "RbacConfig", "ServiceRole", "ServiceRoleBinding"}
    assert len(_examples()) == 13


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem)
def test_example_is_accepted(path: Path) -> None:
    parsed = load_paths([path])
    assert parsed.errors == ()
    assert [str(e) for e in validate_all(parsed) if e.is_error] == []


def _convert(*names: str) -> tuple[list[dict[str, Any]], list[str]]:
    parsed = load_paths([*(BOOK / n for n in names), BOOK / "services.yaml"])
    result = convert_legacy(parsed.resources, "istio-system")
    documents = []
    for resource in result.resources:
        wire = resource.to_wire()
        wire["metadata"].pop("annotations", None)
        wire.setdefault("spec", {})
        documents.append(wire)
    return documents, [str(n) for n in result.notes]


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=str)
def test_example_converts_per_the_migration_rules(key: str) -> None:
    names = RBAC_TOGETHER if key == "10+12+13" else (key,)
    documents, notes = _convert(*names)
    assert documents == EXPECTED[key]["documents"]
    assert notes == EXPECTED[key]["notes"]


def test_expectations_cover_every_example() -> None:
    covered = set(EXPECTED) | set(RBAC_TOGETHER)
    assert {p.name for p in _examples()} <= covered


def test_key_rules_of_the_expected_conversions() -> None:
    """The facts the golden file encodes, spelled out (so a bad regeneration is caught)."""
    port_81 = EXPECTED["06-policy-bar-port-81-permissive.yaml"]["documents"][0]
    assert port_81["spec"]["portLevelMtls"] == {"9081": {"mode": "PERMISSIVE"}}  # target port
    assert port_81["spec"]["selector"] == {"matchLabels": {"app": "bar"}}
    mesh = EXPECTED["08-meshpolicy-mtls.yaml"]["documents"][0]
    assert (mesh["metadata"]["namespace"], mesh["spec"]) == (
        "istio-system",
        {"mtls": {"mode": "STRICT"}},
    )
    end_user = EXPECTED["09-policy-end-user-auth.yaml"]["documents"]
    assert [d["kind"] for d in end_user] == [
        "PeerAuthentication",
        "RequestAuthentication",
        "AuthorizationPolicy",
    ]
    assert end_user[1]["spec"]["jwtRules"][0]["fromHeaders"] == [
        {"name": "x-goog-iap-jwt-assertion"}
    ]
    assert end_user[2]["spec"]["action"] == "DENY"
    assert end_user[2]["spec"]["rules"] == [{"from": [{"source": {"notRequestPrincipals": ["*"]}}]}]
    inclusion = EXPECTED["11-rbacconfig-inclusion.yaml"]["documents"]
    assert [(d["metadata"]["namespace"], d["spec"]) for d in inclusion] == [
        ("bar", {"selector": {"matchLabels": {"app": "bar", "ns": "bar"}}}),
        ("default", {}),
    ]
