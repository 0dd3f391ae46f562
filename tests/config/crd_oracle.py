"""Istio's official CRD schemas (tests/config/oracle/, Apache-2.0) as a ``jsonschema`` oracle.

Only the structural part of each ``openAPIV3Schema`` is evaluated: types, enums, ``required``,
one-ofs, ranges and lengths. Kubernetes-specific keywords are translated the way the API server
applies them: ``nullable`` widens the type, fields not marked nullable lose ``null`` values before
validation (the server prunes them), and objects with declared properties reject unknown fields
(server-side strict field validation, kubectl's default). ``x-kubernetes-validations`` (CEL) rules
are out of scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the venv
import yaml

CRD_FILE = Path(__file__).parent / "oracle" / "istio-crds.gen.yaml"
_ENVELOPE = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        else:
            out[key] = _convert(value)
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    strict_object = (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    )
    if strict_object:
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> Mapping[tuple[str, str], dict[str, Any]]:
    """Raw ``openAPIV3Schema`` by (kind, version)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with CRD_FILE.open(encoding="utf-8") as f:
        for crd in yaml.safe_load_all(f):
            if not crd:
                continue
            for version in crd["spec"]["versions"]:
                key = (crd["spec"]["names"]["kind"], version["name"])
                found[key] = version["schema"]["openAPIV3Schema"]
    return found


@cache
def _validator(kind: str, version: str) -> jsonschema.Draft4Validator:
    root = _convert(crd_schemas()[(kind, version)])
    root["properties"] = {**_ENVELOPE, **root.get("properties", {})}
    root.pop("additionalProperties", None)  # unknown top-level fields are pruned, not rejected
    return jsonschema.Draft4Validator(root)


def _prune_nulls(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, dict) else {})
            if sub is None and not sub_schema.get("nullable"):
                continue
            out[key] = _prune_nulls(sub, sub_schema)
        return out
    if isinstance(value, list):
        items = schema.get("items", {})
        return [_prune_nulls(item, items) for item in value]
    return value


def oracle_errors(document: Mapping[str, Any]) -> list[str]:
    """The structural schema's complaints about one document (empty: accepted)."""
    kind = document["kind"]
    version = document["apiVersion"].rsplit("/", 1)[-1]
    pruned = _prune_nulls(dict(document), crd_schemas()[(kind, version)])
    errors = _validator(kind, version).iter_errors(pruned)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
