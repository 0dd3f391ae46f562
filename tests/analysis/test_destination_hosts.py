from tests.analysis.helpers import codes, lines

VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: %s}
    mirror: {host: %s}
  tcp:
  - route:
    - destination: {host: %s}
"""


def test_known_hosts_short_and_fqdn_are_clean() -> None:
    assert codes(VS % ("reviews", "reviews.default.svc.cluster.local", "reviews")) == []


def test_unknown_route_mirror_and_tcp_hosts_are_reported() -> None:
    assert lines(VS % ("reviewz", "mirrorz", "tcpz")) == [
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "reviewz"',
        "Error [IST0101] (VirtualService default/reviews) Referenced mirror host not found: "
        '"mirrorz"',
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "tcpz"',
    ]


def test_unknown_port_is_reported() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /v1}}]
    route:
    - destination: {host: reviews, port: {number: 9080}}
  - route:
    - destination: {host: reviews, port: {number: 80}}
"""
    assert lines(text) == [
        "Error [IST0101] (VirtualService default/reviews) Referenced host:port not found: "
        '"reviews:80"'
    ]


def test_service_entry_hosts_and_wildcards_count() -> None:
    text = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: external}
spec:
  hosts: [api.example.com]
  tls:
  - match: [{sniHosts: [api.example.com]}]
    route:
    - destination: {host: api.example.com}
"""
    assert codes(text) == []


def test_service_not_exported_to_the_namespace_is_unknown() -> None:
    text = """
apiVersion: v1
kind: Service
metadata:
  name: private
  namespace: other
  annotations: {networking.istio.io/exportTo: "."}
spec:
  selector: {app: private}
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: private.other.svc.cluster.local}
"""
    assert codes(text) == ["IST0101"]
