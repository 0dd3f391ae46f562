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


def test_credential_name_without_its_secret_is_not_found() -> None:
    assert lines(GATEWAY % "SIMPLE") == [
        'Error [IST0101] (Gateway default/web) Referenced credentialName not found: "web-cert"'
    ]


def test_passthrough_ignores_the_credential() -> None:
    assert lines(GATEWAY % "PASSTHROUGH") == []


def _secret(name: str, namespace: str) -> str:
    from tests.config.secret_pems import Ca, tls_secret_yaml

    ca = Ca.make("analysis-ca")
    return "---\n" + tls_secret_yaml(name, namespace, ca.issue("web.example.com"))


def test_credential_name_with_its_secret_in_the_gateway_namespace_is_found() -> None:
    # Without the helpers' mesh: its istio-system gateway pod is selected too.
    assert lines(GATEWAY % "SIMPLE" + _secret("web-cert", "default"), with_mesh=False) == []


def test_secret_of_another_namespace_does_not_count() -> None:
    assert lines(GATEWAY % "SIMPLE" + _secret("web-cert", "other")) == [
        'Error [IST0101] (Gateway default/web) Referenced credentialName not found: "web-cert"'
    ]


def test_gateway_pods_namespace_is_where_the_secret_is_looked_up() -> None:
    # istioctl's getGatewayNamespace: the selected pod's namespace, not the Gateway's.
    text = (GATEWAY % "SIMPLE").replace(
        "metadata: {name: ingress-0, labels:",
        "metadata: {name: ingress-0, namespace: edge, labels:",
    )

    def missing(namespace: str) -> list[str]:
        found = lines(text + _secret("web-cert", namespace), with_mesh=False)
        return [line for line in found if "IST0101" in line]

    assert missing("edge") == []
    assert len(missing("default")) == 1


def test_every_selected_gateway_namespace_needs_the_secret() -> None:
    # The helpers' mesh adds an istio-system gateway pod with the same labels.
    assert len(lines(GATEWAY % "SIMPLE" + _secret("web-cert", "default"))) == 1
    both = _secret("web-cert", "default") + _secret("web-cert", "istio-system")
    assert lines(GATEWAY % "SIMPLE" + both) == []
