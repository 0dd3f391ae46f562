"""Bad input never raises; every error names file, document, kind/name, field path and reason."""

from pathlib import Path

import pytest
import yaml

from mainsail.config.errors import ErrorCode
from mainsail.config.istio import DestinationRule, VirtualService
from mainsail.config.kube.service import Service
from mainsail.config.parse import DocumentOrigin, load_paths, parse_documents

GOOD = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
"""


def test_parses_resources_and_defaults_namespace() -> None:
    result = parse_documents(
        GOOD + "---\n" + GOOD.replace("reviews\nspec", "r2\n  namespace: prod\nspec"), "a.yaml"
    )
    assert result.errors == ()
    assert result.ok
    first, second = result.resources
    assert isinstance(first, VirtualService)
    assert first.key == ("VirtualService", "default", "reviews")
    assert second.namespace == "prod"
    assert result.origins == (
        DocumentOrigin(file="a.yaml", document=1, line=1),
        DocumentOrigin(file="a.yaml", document=2, line=11),
    )


def test_caller_default_namespace() -> None:
    result = parse_documents(GOOD, "a.yaml", namespace="bookinfo")
    assert result.resources[0].namespace == "bookinfo"


def test_empty_documents_are_skipped_but_counted() -> None:
    result = parse_documents("---\n# only a comment\n---\n" + GOOD + "---\n", "a.yaml")
    assert len(result.resources) == 1
    assert result.origins[0].document == 3


def test_kubernetes_kinds() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  ports: [{port: 9080, name: http}]\n  selector: {app: reviews}\n"
    (svc,) = parse_documents(text, "svc.yaml").resources
    assert isinstance(svc, Service)
    assert svc.spec.ports[0].port == 9080


BAD = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {exact: /a, prefix: /b}, ignore_uri_case: true}]
    route:
    - destination: {host: reviews, port: {number: "80"}}
      weight: 1.5
    timeout: 1x
---
- just
- a list
---
kind: Nope
apiVersion: v1
metadata: {name: x}
---
apiVersion: networking.istio.io/v2
kind: DestinationRule
metadata: {name: dr}
spec: {host: reviews}
---
kind: Gateway
metadata: {namespace: x}
---
key: [unclosed
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: fine}
spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
"""


def _by_code(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in parse_documents(text, "bad.yaml").errors:
        out.setdefault(e.code.value, []).append(str(e))
    return out


def test_every_bad_document_becomes_errors_and_the_good_one_survives() -> None:
    result = parse_documents(BAD, "bad.yaml")
    assert [type(r) for r in result.resources] == [DestinationRule]
    assert result.origins[0].document == 7
    assert not result.ok
    messages = [str(e) for e in result.errors]
    expected = [
        "bad.yaml: document 1 (VirtualService shop/reviews): spec.http[0].match[0].uri: only one of exact, prefix may be set [MS-SCHEMA-ONE-OF]",
        "bad.yaml: document 1 (VirtualService shop/reviews): spec.http[0].match[0].ignore_uri_case: unknown field [MS-SCHEMA-UNKNOWN-FIELD]",
        "bad.yaml: document 1 (VirtualService shop/reviews): spec.http[0].route[0].destination.port.number: must be a valid integer (got str) [MS-SCHEMA-TYPE]",
        "bad.yaml: document 1 (VirtualService shop/reviews): spec.http[0].route[0].weight: must be a valid integer (got float) [MS-SCHEMA-TYPE]",
        "bad.yaml: document 1 (VirtualService shop/reviews): spec.http[0].timeout: invalid duration '1x': expected a number and a unit (ns, us, ms, s, m, h) [MS-SCHEMA-DURATION]",
        "bad.yaml: document 2: a document must be a mapping, not list [MS-NOT-MAPPING]",
        "bad.yaml: document 3 (Nope default/x): kind: unknown kind 'Nope' [MS-UNKNOWN-KIND]",
        "bad.yaml: document 4 (DestinationRule default/dr): apiVersion: apiVersion 'networking.istio.io/v2' is not served for DestinationRule; use one of networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3 [MS-UNKNOWN-API-VERSION]",
        "bad.yaml: document 5 (Gateway x): apiVersion: apiVersion is required [MS-NO-API-VERSION]",
        "bad.yaml: document 5 (Gateway x): metadata.name: metadata.name is required [MS-NO-NAME]",
    ]
    assert messages[: len(expected)] == expected
    yaml_error = result.errors[len(expected)]
    assert yaml_error.code is ErrorCode.YAML
    assert yaml_error.document == 6
    assert "started at line 28" in yaml_error.reason
    assert len(result.errors) == len(expected) + 1


def test_error_fields_are_structured() -> None:
    (error,) = parse_documents(GOOD.replace("subset: v1", "subset: 1"), "f.yaml").errors
    assert (error.file, error.document, error.kind, error.namespace, error.name) == (
        "f.yaml",
        1,
        "VirtualService",
        "default",
        "reviews",
    )
    assert error.path == "spec.http[0].route[0].destination.subset"
    assert error.code is ErrorCode.SCHEMA_TYPE
    assert error.severity == "error"


def test_map_keys_and_enums_in_paths() -> None:
    text = GOOD.replace("  - route:", "  - match: [{headers: {x-user: {exact: 7}}}]\n    route:")
    (error,) = parse_documents(text, "f.yaml").errors
    assert error.path == "spec.http[0].match[0].headers[x-user].exact"
    dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: h, trafficPolicy: {loadBalancer: {simple: FASTEST}}}\n"
    (error,) = parse_documents(dr, "d.yaml").errors
    assert error.path == "spec.trafficPolicy.loadBalancer.simple"
    assert error.code is ErrorCode.SCHEMA_ENUM
    assert "'FASTEST' is not one of" in error.reason


def test_wrong_case_kind_gets_a_hint() -> None:
    (error,) = parse_documents(
        GOOD.replace("kind: VirtualService", "kind: virtualservice"), "f.yaml"
    ).errors
    assert "did you mean VirtualService?" in error.reason


@pytest.mark.parametrize("text", ["", "\n", "---\n---\n", "# nothing\n"])
def test_nothing_to_parse(text: str) -> None:
    assert parse_documents(text, "e.yaml") == parse_documents("", "e.yaml")
    assert parse_documents(text, "e.yaml").resources == ()


@pytest.mark.parametrize(
    "text", ["\t- x", "a: b: c", "{", "\x00", "[1, 2", "!!python/object:os.system x"]
)
def test_garbage_never_raises(text: str) -> None:
    result = parse_documents(text, "g.yaml")
    assert result.resources == ()
    assert all(e.file == "g.yaml" and e.document == 1 for e in result.errors)


WITH_DATE_AND_TIMEOUT = GOOD.replace(
    "    - destination: {host: reviews, subset: v1}\n",
    "    - destination: {host: reviews, subset: v1}\n"
    "      headers: {request: {set: {x-date: 2024-01-01}}}\n"
    "    timeout: 1m30s\n",
)


def test_timestamps_stay_strings() -> None:
    result = parse_documents(WITH_DATE_AND_TIMEOUT, "t.yaml")
    assert result.errors == ()
    vs = result.resources[0]
    assert isinstance(vs, VirtualService)
    headers = vs.spec.http[0].route[0].headers
    assert headers is not None and headers.request is not None
    assert headers.request.set == {"x-date": "2024-01-01"}


def test_load_paths_files_and_directories(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "b.yml").write_text(GOOD.replace("name: reviews", "name: b"))
    (nested / "notes.txt").write_text("not yaml: [")
    (nested / "bad.yaml").write_text("kind: X\n")
    result = load_paths([tmp_path, tmp_path / "missing.yaml"])
    assert sorted(r.name for r in result.resources) == ["b", "reviews"]
    files = {e.file for e in result.errors}
    assert files == {str(nested / "bad.yaml"), str(tmp_path / "missing.yaml")}
    assert {e.code for e in result.errors} >= {ErrorCode.READ}


def test_load_paths_unreadable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    (error,) = load_paths([path]).errors
    assert error.code is ErrorCode.READ
    assert error.file == str(path)


def test_to_wire_round_trip() -> None:
    vs = parse_documents(WITH_DATE_AND_TIMEOUT, "w.yaml").resources[0]
    wire = vs.to_wire()
    assert wire["apiVersion"] == "networking.istio.io/v1alpha3"
    assert wire["kind"] == "VirtualService"
    assert wire["spec"]["http"][0]["timeout"] == "90s"
    again = parse_documents(yaml.safe_dump(wire), "again.yaml")
    assert again.errors == ()
    assert again.resources[0] == vs


LINES = """\
# a comment before the first document
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {prefix: /a}
    route:
    - destination:
        host: reviews
---

apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{name: http, port: 80}]
"""


def test_origins_name_the_document_and_field_lines() -> None:
    vs, svc = parse_documents(LINES, "l.yaml").origins
    assert (vs.line, svc.line) == (2, 15)
    assert vs.reference == "l.yaml:2"
    assert vs.line_of("spec.http[0].route[0].destination.host") == 12
    assert vs.line_of("spec.http[0].match[0].uri") == 9
    # A field not in the file falls back to its nearest parent there, then to the document.
    assert vs.line_of("spec.http[0].timeout") == 8
    assert vs.line_of("spec.http[3]") == 7
    assert vs.line_of("") == 2
    assert svc.line_of("spec.ports[0].port") == 19


def test_documents_that_fail_the_schema_keep_their_line() -> None:
    result = parse_documents(
        LINES.replace("  hosts: [reviews]", "  hosts: [reviews]\n  bogus: 1"), "l.yaml"
    )
    [error] = result.errors
    origin = result.origin_of(error.file, error.document)
    assert origin is not None and origin.line_of(error.path) == 7
