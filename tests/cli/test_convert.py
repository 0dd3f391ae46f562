"""``mainsail convert`` as a user runs it: offline with files, and online with the running mesh's
Services."""

from __future__ import annotations

from pathlib import Path

import yaml

from mainsail.config.parse import parse_documents
from mainsail.config.validation import validate_all
from mainsail.testing.waiting import wait_for_sync
from tests.cli.conftest import Cli, ControlPlane

BOOK = Path(__file__).resolve().parents[2] / "samples" / "book" / "security"

POLICY = """\
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: httpbin-jwt, namespace: foo}
spec:
  targets: [{name: httpbin, ports: [{name: http}]}]
  peers: [{mtls: {mode: PERMISSIVE}}]
  origins:
  - jwt:
      issuer: testing@secure.istio.io
      jwksUri: https://example.com/jwks.json
      triggerRules: [{excludedPaths: [{exact: /health}]}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 80}]
"""


def _offline(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "no-mesh")  # no control plane runs for this state directory


def test_book_examples_convert_offline(tmp_path: Path) -> None:
    ran = _offline(tmp_path)(
        "convert",
        "-f", str(BOOK / "09-policy-end-user-auth.yaml"),
        "-f", str(BOOK / "services.yaml"),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    documents = list(yaml.safe_load_all(ran.out))
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("PeerAuthentication", "end-user-auth-bar"),
        ("RequestAuthentication", "end-user-auth-bar"),
        ("AuthorizationPolicy", "end-user-auth-bar"),
    ]
    assert documents[0]["apiVersion"] == "security.istio.io/v1beta1"
    assert (
        "converted from alpha authentication policy default/end-user-auth"
        in (documents[0]["metadata"]["annotations"]["security.istio.io/alpha-policy-convert"])
    )
    assert "principalBinding USE_ORIGIN is dropped" in ran.err


def test_output_is_accepted_by_validate(tmp_path: Path) -> None:
    cli = _offline(tmp_path)
    ran = cli("convert", "-f", str(BOOK))
    assert ran.code == 0, ran.err
    parsed = parse_documents(ran.out, "converted.yaml")
    assert parsed.errors == ()
    assert [str(e) for e in validate_all(parsed) if e.is_error] == []
    assert {r.kind for r in parsed.resources} == {
        "PeerAuthentication",
        "RequestAuthentication",
        "AuthorizationPolicy",
    }
    assert "generated-global-deny-all" in ran.out and "spec: {}" in ran.out


def test_missing_service_is_an_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    ran = _offline(tmp_path)("convert", "-f", str(policy))
    assert ran.code == 1
    assert (
        "error: Policy foo/httpbin-jwt: spec.targets[0]: could not find service foo.httpbin"
        in ran.err
    )


def test_unsupported_regex_is_reported(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace("{exact: /health}", "{regex: '/h.*'}") + "---\n" + SERVICE)
    ran = _offline(tmp_path)("convert", "-f", str(policy))
    assert ran.code == 1
    assert (
        "triggerRules[0].excludedPaths[0]: regex '/h.*' has no AuthorizationPolicy equivalent"
        in ran.err
    )
    assert "kind: RequestAuthentication" in ran.out


def test_invalid_input_and_nothing_to_convert(tmp_path: Path) -> None:
    cli = _offline(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("name: httpbin,", "name: Bad_Name,"))
    ran = cli("convert", "-f", str(bad))
    assert (ran.code, ran.out) == (1, "")
    assert "spec.targets[0].name" in ran.err and "[MS-AUTHN-POLICY]" in ran.err
    service = tmp_path / "svc.yaml"
    service.write_text(SERVICE)
    ran = cli("convert", "-f", str(service))
    assert ran.code == 1 and "no authentication.istio.io or rbac.istio.io document" in ran.err


def test_services_come_from_the_running_mesh(
    cli: Cli, control_plane: ControlPlane, tmp_path: Path
) -> None:
    service = tmp_path / "svc.yaml"
    service.write_text(SERVICE)
    assert cli("apply", "-f", str(service)).code == 0
    wait_for_sync(
        lambda: control_plane.client.list_config(kind="Service")["items"] or None,
        timeout=30,
        message="the Service in the mesh",
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    ran = cli("convert", "-f", str(policy))
    assert ran.code == 0, ran.err
    documents = list(yaml.safe_load_all(ran.out))
    peer = documents[0]
    assert peer["spec"] == {
        "selector": {"matchLabels": {"app": "httpbin"}},
        "portLevelMtls": {"80": {"mode": "PERMISSIVE"}},
    }
    deny = documents[2]["spec"]
    assert deny["rules"][0]["to"] == [{"operation": {"notPaths": ["/health"], "ports": ["80"]}}]


def test_root_namespace_option(tmp_path: Path) -> None:
    ran = _offline(tmp_path)(
        "convert", "-f", str(BOOK / "08-meshpolicy-mtls.yaml"), "--root-namespace", "mesh-root"
    )
    assert ran.code == 0, ran.err
    (document,) = yaml.safe_load_all(ran.out)
    assert (document["kind"], document["metadata"]["namespace"]) == (
        "PeerAuthentication",
        "mesh-root",
    )
    assert document["spec"] == {"mtls": {"mode": "STRICT"}}
