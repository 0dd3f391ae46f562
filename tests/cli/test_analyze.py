"""``mainsail analyze`` offline on files: output shapes and exit codes (no control plane)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import yaml

from mainsail.cli.main import main

SAMPLES = Path(__file__).parents[2] / "src" / "mainsail" / "samples"
BOOKINFO = SAMPLES / "bookinfo" / "platform" / "bookinfo.yaml"

BAD_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviewz}
"""
UNNAMED_PORT = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8000}]
"""


def analyze(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["analyze", *args, "--state-dir", str(tmp_path / "state")])
        except SystemExit as exit:  # argparse
            code = int(exit.code or 0)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_clean_files(tmp_path: Path) -> None:
    code, out, err = analyze(tmp_path, "-f", str(BOOKINFO))
    assert (code, out) == (0, "")
    assert err == "\u2714 No validation issues found when analyzing namespace: default.\n"


def test_errors_exit_79_with_istioctl_lines(tmp_path: Path) -> None:
    code, out, err = analyze(
        tmp_path, "-f", str(BOOKINFO), "-f", write(tmp_path, "vs.yaml", BAD_VS)
    )
    assert code == 79
    # istioctl's reference: the file and the line of the field (the destination host).
    assert out == (
        f"Error [IST0101] (VirtualService default/reviews {tmp_path / 'vs.yaml'}:9) "
        'Referenced host not found: "reviewz"\n'
    )
    assert err.startswith("Error: Analyzers found issues when analyzing namespace: default.")


def test_infos_and_warnings_exit_0(tmp_path: Path) -> None:
    code, out, _ = analyze(tmp_path, "-f", write(tmp_path, "svc.yaml", UNNAMED_PORT))
    assert code == 0
    assert out.startswith(
        f"Info [IST0118] (Service default/web {tmp_path / 'svc.yaml'}:7) Port name  (port: 8000"
    )


def test_thresholds(tmp_path: Path) -> None:
    svc = write(tmp_path, "svc.yaml", UNNAMED_PORT)
    code, out, err = analyze(tmp_path, "-f", svc, "--output-threshold", "Warning")
    assert (code, out) == (0, "")
    assert "No validation issues" in err
    code, _, _ = analyze(tmp_path, "-f", svc, "--failure-threshold", "Info")
    assert code == 79


def test_json_and_yaml_output(tmp_path: Path) -> None:
    vs = write(tmp_path, "vs.yaml", BAD_VS)
    code, out, _ = analyze(tmp_path, "-f", str(BOOKINFO), "-f", vs, "-o", "json")
    assert code == 79
    expected = {
        "code": "IST0101",
        "level": "Error",
        "origin": "VirtualService default/reviews",
        "reference": f"{vs}:9",
        "path": "spec.http[0].route[0].destination.host",
        "message": 'Referenced host not found: "reviewz"',
        "documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/",
    }
    assert json.loads(out) == [expected]
    code, out, _ = analyze(tmp_path, "-f", str(BOOKINFO), "-f", vs, "-o", "yaml")
    assert (code, yaml.safe_load(out)) == (79, [expected])


def test_namespace_selection(tmp_path: Path) -> None:
    other = write(tmp_path, "vs.yaml", BAD_VS.replace("{name: reviews}", "{name: r, namespace: x}"))
    code, out, err = analyze(tmp_path, "-f", other)
    assert (code, out) == (0, "")
    code, out, err = analyze(tmp_path, "-f", other, "-n", "x")
    assert code == 79 and f"(VirtualService x/r {other}:9)" in out
    code, out, err = analyze(tmp_path, "-f", other, "-A")
    assert code == 79 and "all namespaces" in err


def test_unparsable_documents_are_errors(tmp_path: Path) -> None:
    code, out, _ = analyze(tmp_path, "-f", write(tmp_path, "bad.yaml", "kind: [\n"))
    assert code == 79
    assert out.startswith(f"Error [IST0106] ({tmp_path / 'bad.yaml'}) Schema validation error:")


def test_without_files_needs_a_running_mesh(tmp_path: Path) -> None:
    code, _, err = analyze(tmp_path)
    assert code == 1
    assert "no control plane is running" in err


def test_list_analyzers(tmp_path: Path) -> None:
    code, out, _ = analyze(tmp_path, "-L")
    assert code == 0
    assert "* virtualservice.DestinationHostAnalyzer:" in out
