from tests.analysis.helpers import codes, lines


def vs(name: str, host: str, gateways: str = "[]", export_to: str = "[]") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [{host}]
  gateways: {gateways}
  exportTo: {export_to}
  http:
  - route:
    - destination: {{host: reviews}}
---
"""


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


def test_two_mesh_virtual_services_for_one_host_conflict() -> None:
    text = vs("a", "reviews") + vs("b", "reviews.default.svc.cluster.local")
    message = (
        "The VirtualServices default/a,default/b associated with mesh gateway define the same "
        "host */reviews.default.svc.cluster.local which can lead to undefined behavior. This can "
        "be fixed by merging the conflicting VirtualServices into a single resource."
    )
    assert lines(text) == [
        f"Error [IST0109] (VirtualService default/a) {message}",
        f"Error [IST0109] (VirtualService default/b) {message}",
    ]


def test_disjoint_export_scopes_do_not_conflict() -> None:
    text = vs("a", "reviews", export_to='["."]') + vs("b", "reviews", export_to="[other]")
    assert codes(text) == []
    text = vs("a", "reviews", export_to='["."]') + vs("b", "reviews")
    assert codes(text) == ["IST0109", "IST0109"]


def test_mesh_and_gateway_bindings_do_not_conflict() -> None:
    text = GATEWAY + vs("a", "reviews") + vs("b", "www.example.com", gateways="[web]")
    assert codes(text) == []


def test_two_virtual_services_for_one_host_on_a_gateway_are_a_warning() -> None:
    text = GATEWAY + vs("a", "www.example.com", "[web]") + vs("b", "www.example.com", "[web]")
    found = lines(text)
    assert found[0] == (
        "Warning [MSA0002] (VirtualService default/a) The VirtualServices default/a,default/b "
        'bound to gateway default/web define the same host "www.example.com"; their routes are '
        "merged oldest first, so a route of a later one may never match. Merge them into a "
        "single resource."
    )
    assert [m.split(" ")[1] for m in found] == ["[MSA0002]", "[MSA0002]"]
