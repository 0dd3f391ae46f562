from tests.analysis.helpers import lines

GATEWAY = """
apiVersion: v1
kind: Service
metadata: {name: ingress}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: https, port: 443}]
---
apiVersion: v1
kind: Pod
metadata: {name: ingress-0, labels: {istio: ingressgateway}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: %s, credentialName: web-cert}
"""


def test_credential_name_cannot_be_resolved_on_the_local_platform() -> None:
    assert lines(GATEWAY % "SIMPLE") == [
        'Error [IST0101] (Gateway default/web) Referenced credentialName not found: "web-cert"'
    ]


def test_passthrough_ignores_the_credential() -> None:
    assert lines(GATEWAY % "PASSTHROUGH") == []
