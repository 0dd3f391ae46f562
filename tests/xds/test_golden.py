"""Golden files: each case's generated Envoy config per xDS type, compared with ``golden/<case>``.

``REFRESH_GOLDEN=1 pytest tests/xds/test_golden.py`` rewrites them; review the diff against the
reference's §3 (what istiod emits) before committing.
"""

from __future__ import annotations

import os

import pytest

from .cases import FILES, GOLDEN, as_json, case_names, generate_case, load_case

REFRESH = os.environ.get("REFRESH_GOLDEN") == "1"


@pytest.mark.parametrize("name", case_names())
def test_golden(name: str) -> None:
    generated = as_json(generate_case(load_case(name)))
    folder = GOLDEN / name
    if REFRESH:
        folder.mkdir(exist_ok=True)
        for short, text in generated.items():
            (folder / FILES[short]).write_text(text)
    for short, text in generated.items():
        path = folder / FILES[short]
        assert path.exists(), f"{path} missing: run with REFRESH_GOLDEN=1"
        assert text == path.read_text(), f"{name} {short} differs from {path}"


def test_every_golden_folder_has_a_case() -> None:
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name != "cases"}
    assert folders == set(case_names())
