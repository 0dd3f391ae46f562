from mainsail.analysis.messages import SCHEMA_VALIDATION_ERROR
from tests.analysis.helpers import lines, messages


def test_validation_errors_are_schema_errors_with_their_rule_code() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: -1
"""
    found = [m for m in messages(text) if m.type is SCHEMA_VALIDATION_ERROR]
    assert [str(m) for m in found] == [
        "Error [IST0106] (VirtualService default/reviews test.yaml:43) Schema validation error: "
        "spec.http[0].route[0].weight: must be >= 0 [MS-VS-WEIGHT]"
    ]
    assert found[0].path == "spec.http[0].route[0].weight"
    assert found[0].origin is not None and found[0].origin.file == "test.yaml"


def test_documents_that_do_not_parse_are_reported() -> None:
    found = lines("apiVersion: networking.istio.io/v1\nkind: Nope\nmetadata: {name: x}\n")
    assert found == [
        "Error [IST0106] (Nope default/x) Schema validation error: kind: unknown kind 'Nope' "
        "[MS-UNKNOWN-KIND]"
    ]
