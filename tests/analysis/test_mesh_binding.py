from tests.analysis.helpers import codes, lines

GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
"""
VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [%s]
  gateways: [%s]
  http:
  - route:
    - destination: {host: reviews}
"""


def test_gateway_only_vs_for_a_mesh_service_is_reported() -> None:
    assert lines(GATEWAY + VS % ("reviews", "web")) == [
        "Info [MSA0001] (VirtualService default/reviews) The VirtualService is bound to gateways "
        '[web] but not to "mesh", so sidecars calling reviews do not use its routes. Add "mesh" '
        "to spec.gateways if they should."
    ]


def test_listing_mesh_is_clean() -> None:
    assert codes(GATEWAY + VS % ("reviews", "web, mesh")) == []


def test_edge_hosts_are_not_reported() -> None:
    assert codes(GATEWAY + VS % ('"*"', "web")) == []
    assert codes(GATEWAY + VS % ("www.example.com", "web")) == []
