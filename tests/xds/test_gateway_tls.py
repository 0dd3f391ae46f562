"""TLS Gateway servers: istiod's rules beyond the golden case ``gateway_tls`` — SNI of ``*`` and
``<ns>/`` hosts, duplicate passthrough SNI hosts, servers without routes, RDS per HTTPS server."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2

from mainsail import naming
from mainsail.testing.simulator import decoded
from mainsail.xds.resources import ProxyConfig

from .cases import CASES_DIR, Case, generate_case

GATEWAY = """# proxy: router
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https-a, protocol: HTTPS}
    hosts: ["default/a.example.com", "*/a.example.com", "*"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
  - port: {number: 9443, name: tls-pass, protocol: TLS}
    hosts: ["*"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9444, name: tls-unrouted, protocol: TLS}
    hosts: ["*"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [a.example.com, b.example.com]
  gateways: [istio-system/gw]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
  tls:
  - match: [{sniHosts: [a.example.com]}]
    route: [{destination: {host: mongo, port: {number: 27017}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: second, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  hosts: [a.example.com]
  gateways: [istio-system/gw]
  tls:
  - match: [{sniHosts: [a.example.com]}]
    route: [{destination: {host: ratings, port: {number: 9080}}}]
"""


def _config() -> ProxyConfig:
    base = (CASES_DIR / "_base.yaml").read_text()
    return generate_case(Case("gateway_tls_rules", GATEWAY + "\n---\n" + base))


def _listeners(config: ProxyConfig) -> dict[str, listener_pb2.Listener]:
    return decoded(config, naming.LISTENER_TYPE, listener_pb2.Listener)


def test_a_star_host_means_no_sni_match() -> None:
    https = _listeners(_config())["0.0.0.0_8443"]
    (chain,) = https.filter_chains
    assert list(chain.filter_chain_match.server_names) == []
    assert chain.transport_socket.name == "envoy.transport_sockets.tls"


def test_each_https_server_has_its_own_route_configuration() -> None:
    routes = _config().of_type(naming.ROUTE_TYPE)
    name = "https.8443.https-a.gw.istio-system"
    assert name in routes
    config = route_pb2.RouteConfiguration()
    routes[name].body.Unpack(config)
    assert sorted(d for v in config.virtual_hosts for d in v.domains) == [
        "a.example.com",
        "b.example.com",
    ]
    assert "http.8443" not in routes


def test_a_duplicate_passthrough_sni_host_keeps_the_oldest_route() -> None:
    passthrough = _listeners(_config())["0.0.0.0_9443"]
    (chain,) = passthrough.filter_chains
    assert list(chain.filter_chain_match.server_names) == ["a.example.com"]
    assert "mongo" in chain.filters[-1].typed_config.value.decode(errors="replace")


def test_a_terminating_tls_server_without_a_tcp_route_has_no_listener() -> None:
    assert "0.0.0.0_9444" not in _listeners(_config())
