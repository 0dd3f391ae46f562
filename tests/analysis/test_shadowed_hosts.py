from tests.analysis.helpers import codes, lines


def vs(name: str, host: str, gateways: str = "[]") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: ["{host}"]
  gateways: {gateways}
  http:
  - route:
    - destination: {{host: reviews}}
---
"""


def test_wildcard_host_shadowed_by_a_more_specific_one() -> None:
    text = vs("all", "*.default.svc.cluster.local") + vs("reviews", "reviews")
    assert lines(text) == [
        'Info [MSA0003] (VirtualService default/all) Host "*.default.svc.cluster.local" is not '
        'routed by this VirtualService for "reviews.default.svc.cluster.local" on mesh: '
        'VirtualService default/reviews defines the more specific host "reviews", and only the '
        "most specific host applies."
    ]


def test_unrelated_hosts_are_clean() -> None:
    assert codes(vs("all", "*.example.com") + vs("reviews", "reviews")) == []


def test_gateway_catch_all_shadowed_on_the_same_gateway_only() -> None:
    gateway = """
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
    text = gateway + vs("edge", "*", "[web]") + vs("shop", "shop.example.com", "[web]")
    assert codes(text) == ["MSA0003"]
    text = gateway + vs("edge", "*", "[web]") + vs("shop", "shop.example.com")
    assert codes(text) == []
