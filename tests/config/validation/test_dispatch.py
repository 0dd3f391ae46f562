from mainsail.config.parse import parse_documents
from mainsail.config.validation import validate, validate_all

TEXT = """\
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {ports: [{port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec: {selector: {istio: ingressgateway}}
"""


def test_kubernetes_kinds_have_no_rules_and_errors_are_located() -> None:
    parsed = parse_documents(TEXT, "mesh.yaml")
    assert validate(parsed.resources[0]) == ()
    (bare,) = validate(parsed.resources[1])
    assert (bare.file, bare.document, bare.kind, bare.namespace, bare.name) == (
        None,
        None,
        "Gateway",
        "istio-system",
        "gw",
    )
    (placed,) = validate_all(parsed)
    assert str(placed) == (
        "mesh.yaml: document 2 (Gateway istio-system/gw): spec.servers: "
        "a Gateway needs at least one server [MS-GW-SERVERS]"
    )
