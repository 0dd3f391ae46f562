"""Our models accept and reject exactly the documents Istio's official CRD schemas do.

The oracle is the structural part of the ``openAPIV3Schema`` in tests/config/oracle/
(istio/api's generated CRDs, Apache-2.0), evaluated with ``jsonschema``; see ``crd_oracle``.
CEL rules (``x-kubernetes-validations``: duration ranges, port ranges, host rules …) are out of
scope for the oracle: ``corpus/beyond_schema/`` holds documents the structural schema accepts and
Mainsail rejects (through its models or its semantic validation), and the test checks exactly that.

A second test walks each CRD schema alongside our models, so a field Istio has and we do not (or
one we invented) fails here.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from mainsail.config.parse import parse_documents
from mainsail.config.schema import KINDS, NETWORKING, SECURITY
from mainsail.config.validation import validate_all
from tests.config.crd_oracle import crd_schemas, oracle_errors

CORPUS = Path(__file__).parent / "corpus"


def _corpus(sub: str) -> list[Path]:
    return sorted((CORPUS / sub).glob("*.yaml"))


def _ours(path: Path) -> tuple[list[str], list[str]]:
    """(structural errors, semantic errors) Mainsail reports for one corpus file."""
    parsed = parse_documents(path.read_text(), path.name)
    semantic = validate_all(parsed)
    return [str(e) for e in parsed.errors], [str(e) for e in semantic if e.is_error]


def _document(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_corpus_is_large_and_covers_every_kind_and_version() -> None:
    for sub, minimum in (("valid", 40), ("invalid", 40)):
        docs = [_document(p) for p in _corpus(sub)]
        assert len(docs) >= minimum
        seen = {(d["kind"], d["apiVersion"]) for d in docs}
        kinds = {s.kind for s in KINDS if s.group in (NETWORKING, SECURITY)}
        assert {k for k, _ in seen} == kinds
        assert {v for _, v in seen} == {
            *(f"{NETWORKING}/{v}" for v in ("v1", "v1beta1", "v1alpha3")),
            *(f"{SECURITY}/{v}" for v in ("v1", "v1beta1")),
        }


@pytest.mark.parametrize("path", _corpus("valid"), ids=lambda p: p.stem)
def test_valid_documents_are_accepted_by_both(path: Path) -> None:
    assert oracle_errors(_document(path)) == []
    structural, semantic = _ours(path)
    assert structural == []
    assert semantic == []


def _dotted(path: str) -> str:
    return re.sub(r"\[([^\]]*)\]", r".\1", path)


@pytest.mark.parametrize("path", _corpus("invalid"), ids=lambda p: p.stem)
def test_invalid_documents_are_rejected_by_both_at_the_same_place(path: Path) -> None:
    theirs = oracle_errors(_document(path))
    assert theirs != []
    parsed = parse_documents(path.read_text(), path.name)
    assert parsed.errors != ()
    assert all(e.code.startswith("MS-SCHEMA-") for e in parsed.errors), parsed.errors
    ours = [_dotted(e.path) for e in parsed.errors]
    for complaint in theirs:
        where = complaint.split(":", 1)[0]
        assert any(p.startswith(where) for p in ours), (complaint, ours)


@pytest.mark.parametrize("path", _corpus("beyond_schema"), ids=lambda p: p.stem)
def test_rules_beyond_the_structural_schema_are_still_enforced(path: Path) -> None:
    assert oracle_errors(_document(path)) == []
    structural, semantic = _ours(path)
    assert structural + semantic != []


# --- every field of the CRD is modelled, and nothing else ------------------------------------


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            assert len(members) == 1, tp
            tp = members[0]
        else:
            return tp


def _wire_fields(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        choices = getattr(info.validation_alias, "choices", None)
        for wire in choices or [info.alias or name]:
            out[str(wire)] = info.annotation
    return out


def _compare(schema: Mapping[str, Any], tp: Any, path: str, problems: list[str]) -> None:
    tp = _unwrap(tp)
    if schema.get("type") == "array":
        args = get_args(tp)
        assert args, f"{path}: CRD has a list, model has {tp}"
        _compare(schema["items"], args[0], f"{path}[]", problems)
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        ours = _wire_fields(tp)
        theirs = schema.get("properties", {})
        problems += [f"{path}.{k}: missing from the model" for k in theirs if k not in ours]
        problems += [f"{path}.{k}: not in the CRD" for k in ours if k not in theirs]
        for key in theirs.keys() & ours.keys():
            _compare(theirs[key], ours[key], f"{path}.{key}", problems)
        return
    if isinstance(schema.get("additionalProperties"), dict):
        args = get_args(tp)
        assert len(args) == 2, f"{path}: CRD has a map, model has {tp}"
        _compare(schema["additionalProperties"], args[1], f"{path}{{}}", problems)


@pytest.mark.parametrize(
    "kind_schema", [k for k in KINDS if k.group in (NETWORKING, SECURITY)], ids=lambda k: k.kind
)
def test_models_have_exactly_the_crd_fields(kind_schema: Any) -> None:
    for version in kind_schema.versions:
        crd = crd_schemas()[(kind_schema.kind, version)]
        problems: list[str] = []
        spec_type = kind_schema.model.model_fields["spec"].annotation
        _compare(crd["properties"]["spec"], spec_type, "spec", problems)
        assert problems == []


LEGACY_CRD_FILE = Path(__file__).parent / "oracle" / "istio-1.4-legacy-crds.yaml"


@pytest.mark.parametrize("kind_schema", [k for k in KINDS if k.legacy], ids=lambda k: k.kind)
def test_legacy_models_have_exactly_the_istio_1_4_crd_fields(kind_schema: Any) -> None:
    """The book's kinds against Istio 1.4's CRDs (the last with schemas for them; both the JSON
    and the proto spelling of a few fields are listed there, and accepted by us)."""
    crds = {
        d["spec"]["names"]["kind"]: d for d in yaml.safe_load_all(LEGACY_CRD_FILE.read_text()) if d
    }
    crd = crds[kind_schema.kind]
    assert crd["spec"]["scope"] == ("Namespaced" if kind_schema.namespaced else "Cluster")
    assert crd["spec"]["names"]["plural"] == kind_schema.plural
    problems: list[str] = []
    spec_type = kind_schema.model.model_fields["spec"].annotation
    _compare(
        crd["spec"]["validation"]["openAPIV3Schema"]["properties"]["spec"],
        spec_type,
        "spec",
        problems,
    )
    assert problems == []
