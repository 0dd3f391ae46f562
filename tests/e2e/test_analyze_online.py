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
        f"Error [IST0101] (VirtualService default/reviews {path}:9) Referenced host+subset in "
        'destinationrule not found: "reviews+v9"\n'
    )


OTHER_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [shop.example.com]
"""


def test_a_file_gateway_conflicting_with_the_running_one(mesh: LocalMesh, tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(OTHER_GATEWAY)
    ran = mesh.cli("analyze", "-f", str(path), "--use-mesh")
    assert ran.returncode == 79, ran.stderr
    # The mesh's object has no file reference; the file's names its server's line.
    assert ran.stdout == (
        "Error [IST0145] (Gateway default/bookinfo-gateway) Conflict with gateways default/shop "
        "(workload selector istio=ingressgateway, port 8080, hosts *).\n"
        f"Error [IST0145] (Gateway default/shop {path}:8) Conflict with gateways "
        "default/bookinfo-gateway (workload selector istio=ingressgateway, port 8080, hosts "
        "shop.example.com).\n"
    )
