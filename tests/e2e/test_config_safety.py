"""Bad input changes nothing; a NACK is reported and traffic keeps flowing on the last good config."""

from __future__ import annotations

from pathlib import Path

from mainsail.testing.mesh import LocalMesh
from tests.e2e.conftest import NACK_VS, SAMPLES
from tests.e2e.helpers import dynamic_versions, page_versions, wait_until

BAD = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: -5
"""


def test_invalid_document_is_rejected_precisely_and_changes_no_proxy(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    fingerprints = {p.key: dynamic_versions(mesh, p) for p in mesh.pods()}
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = mesh.cli("apply", "-f", str(bad))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert str(bad) in out and "document 2" in out
    assert "VirtualService default/reviews" in out
    assert "spec.http[0].route[0].weight" in out
    # The valid first document was not applied either.
    listed = mesh.cli("get", "virtualservices")
    assert "ratings" not in listed.stdout
    assert {p.key: dynamic_versions(mesh, p) for p in mesh.pods()} == fingerprints


def test_validate_is_offline_and_lists_every_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD.replace("hosts: [ratings]", "hosts: [ratings]\n  bogus: 1"))
    result = subprocess.run(
        [sys.executable, "-m", "mainsail", "validate", "-f", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "document 1" in result.stdout and "spec.bogus" in result.stdout
    assert "document 2" in result.stdout and "weight" in result.stdout


def test_nack_is_reported_with_envoys_message_and_traffic_keeps_flowing(
    mesh: LocalMesh, tmp_path: Path
) -> None:
    _ = SAMPLES
    doc = tmp_path / "nack.yaml"
    doc.write_text(
        f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {NACK_VS}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {{host: ratings}}
"""
    )
    assert mesh.cli("apply", "-f", str(doc)).returncode == 0

    def nacked() -> bool:
        return any(p["types"].get("RDS", {}).get("state") == "NACK" for p in mesh.proxy_status())

    wait_until(nacked, 10, "an RDS NACK in proxy-status")
    table = mesh.cli("proxy-status").stdout
    assert "NACK" in table
    # Envoy's own reason for refusing the regex the test hook emitted.
    assert "RDS NACK: missing )" in table, table
    assert set(page_versions(mesh, 20)) <= {"v1", "v2", "v3"}
    assert mesh.cli("delete", "virtualservice", NACK_VS).returncode == 0
    wait_until(
        lambda: all(
            t.get("state") in ("SYNCED", "NOT_SENT")
            for p in mesh.proxy_status()
            for t in p["types"].values()
        ),
        10,
        "every proxy SYNCED again",
    )
