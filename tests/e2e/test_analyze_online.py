"""``mainsail analyze`` against the running BookInfo mesh, and files overlaid on it."""

from __future__ import annotations

from pathlib import Path

from mainsail.testing.mesh import LocalMesh

BAD_VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v9}
"""


def test_running_bookinfo_analyzes_clean(mesh: LocalMesh) -> None:
    ran = mesh.cli("analyze")
    assert (ran.returncode, ran.stdout) == (0, ""), ran.stderr
    assert "No validation issues found when analyzing namespace: default." in ran.stderr


def test_files_overlaid_on_the_mesh(mesh: LocalMesh, tmp_path: Path) -> None:
    path = tmp_path / "vs.yaml"
    path.write_text(BAD_VS)
    ran = mesh.cli("analyze", "-f", str(path), "--use-mesh")
    assert ran.returncode == 79, ran.stderr
    assert ran.stdout == (
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v9"\n'
    )
