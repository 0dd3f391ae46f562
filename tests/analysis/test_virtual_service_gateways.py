from tests.analysis.helpers import codes, lines

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [%s]
---
"""
VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [%s]
  gateways: [%s]
  http:
  - route:
    - destination: {host: reviews}
"""


def test_bound_gateway_with_a_shared_host_is_clean() -> None:
    assert codes(GATEWAY % '"*.example.com"' + VS % ("www.example.com", "istio-system/web")) == []


def test_missing_gateway_is_reported() -> None:
    assert lines(VS % ("www.example.com", "web")) == [
        'Error [IST0101] (VirtualService default/web) Referenced gateway not found: "web"'
    ]


def test_host_not_in_gateway_is_reported() -> None:
    text = GATEWAY % "shop.example.com" + VS % ("www.example.com", "istio-system/web")
    assert lines(text) == [
        "Warning [IST0132] (VirtualService default/web) one or more host [www.example.com] "
        "defined in VirtualService default/web not found in Gateway istio-system/web."
    ]


def test_server_host_namespace_restricts_binding() -> None:
    assert codes(
        GATEWAY % '"./www.example.com"' + VS % ("www.example.com", "istio-system/web")
    ) == ["IST0132"]
    assert codes(GATEWAY % '"default/*"' + VS % ("www.example.com", "istio-system/web")) == []


def test_legacy_gateway_name_forms_resolve() -> None:
    text = GATEWAY % '"*"' + VS % ("www.example.com", "web.istio-system.svc.cluster.local")
    assert codes(text) == ["IST0133"]  # the webhook's warning for the legacy form; still bound
