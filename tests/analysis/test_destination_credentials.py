from tests.analysis.helpers import lines

DR = """
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: https, port: 443}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-0, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy:
    tls: {mode: %s, credentialName: api-client}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: ISTIO_MUTUAL}
"""


def test_credential_name_without_its_secret_is_not_found() -> None:
    assert lines(DR % "SIMPLE") == [
        "Error [IST0101] (DestinationRule default/api) Referenced credentialName not found: "
        '"api-client"'
    ]


def test_modes_without_a_credential_say_nothing() -> None:
    assert lines(DR % "DISABLE") == []


def test_credential_name_with_its_secret_is_found() -> None:
    from tests.config.secret_pems import Ca, tls_secret_yaml

    ca = Ca.make("analysis-ca")
    secret = "---\n" + tls_secret_yaml("api-client", "default", ca.issue("client"), ca.pem)
    assert lines(DR % "MUTUAL" + secret) == []
    assert len(lines(DR % "MUTUAL" + secret.replace("namespace: default", "namespace: x"))) == 1
