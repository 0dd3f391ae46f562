from tests.analysis.helpers import codes, lines


def service(ports: str, labels: str = "{}") -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: web, labels: {labels}}}
spec:
  selector: {{app: web}}
  ports: {ports}
"""


def test_named_or_app_protocol_ports_are_clean() -> None:
    ports = "[{name: http-web, port: 80}, {name: grpc, port: 90}, {name: x, port: 91, appProtocol: http}]"
    assert codes(service(ports)) == []


def test_unnamed_and_unconventional_ports_are_reported() -> None:
    ports = "[{name: web, port: 80, targetPort: 8080}, {port: 81}, {name: dns, port: 53}]"
    assert lines(service(ports)) == [
        "Info [IST0118] (Service default/web) Port name web (port: 80, targetPort: 8080) doesn't "
        "follow the naming convention of Istio port.",
        "Info [IST0118] (Service default/web) Port name  (port: 81, targetPort: 0) doesn't "
        "follow the naming convention of Istio port.",
    ]


def test_istio_gateway_services_are_skipped() -> None:
    assert codes(service("[{name: status, port: 15021}]", "{istio: ingressgateway}")) == []
